// The "database" the pages read: an upstream HTTP service, fetched with a Next cache tag.
export async function loadPosts() {
  const upstream = process.env.UPSTREAM_URL
  if (!upstream) return 'no-upstream'
  try {
    const res = await fetch(`${upstream}/posts`, { next: { tags: ['posts'], revalidate: 3600 } })
    return await res.text()
  } catch {
    return 'upstream-unreachable'
  }
}
