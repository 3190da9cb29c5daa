import { loadPosts } from '../../lib/data'
import { refreshPosts } from './actions'

export const revalidate = 3600 // ISR: rendered once, shared through Valkey, regenerated hourly

export default async function IsrPage() {
  const posts = await loadPosts()
  const renderId = Math.random().toString(36).slice(2, 10)
  return (
    <main>
      <p id="render">render:{renderId}</p>
      <p id="posts">posts:{posts}</p>
      <form action={refreshPosts}>
        <button id="refresh" type="submit">
          Refresh posts
        </button>
      </form>
    </main>
  )
}
