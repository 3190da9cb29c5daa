'use server'
import { expireTagInAction } from '../../lib/next-compat'

// Invalidates everything tagged 'posts' on every instance: this page (its fetch is tagged),
// the 'use cache' component, and the tRPC procedures cached with tags: ['posts'].
export async function refreshPosts() {
  expireTagInAction('posts')
}
