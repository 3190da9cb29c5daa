export default function Home() {
  return (
    <main>
      <h1>ferrocache + Next.js</h1>
      <ul>
        <li>
          <a href="/isr">ISR page with a tagged fetch and a Server Action</a>
        </li>
        <li>
          <a href="/uc">&apos;use cache&apos; component with cacheTag</a>
        </li>
        <li>
          <a href="/api/page-info">route handler</a>
        </li>
      </ul>
    </main>
  )
}
