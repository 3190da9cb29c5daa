import { revalidatePath } from 'next/cache'
import { expireTag } from '../../../lib/next-compat'

// POST /api/revalidate?tag=posts or ?path=/isr (protect this with a secret in a real app).
export async function POST(request) {
  const url = new URL(request.url)
  const tag = url.searchParams.get('tag')
  const path = url.searchParams.get('path')
  if (tag) expireTag(tag)
  if (path) revalidatePath(path)
  return Response.json({ revalidated: { tag, path } })
}
