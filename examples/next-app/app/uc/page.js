import { headers } from 'next/headers'
import { loadPosts } from '../../lib/data'
import { cacheTag } from '../../lib/next-compat'

async function CachedPosts() {
  'use cache'
  cacheTag('posts')
  const posts = await loadPosts()
  return (
    <p id="uc">
      uc:{Math.random().toString(36).slice(2, 10)}:{posts}
    </p>
  )
}

export default async function UseCachePage() {
  await headers() // dynamic page: every request renders, the 'use cache' part comes from the handler
  return (
    <main>
      <CachedPosts />
    </main>
  )
}
