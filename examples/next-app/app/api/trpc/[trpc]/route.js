import { fetchRequestHandler } from '@trpc/server/adapters/fetch'
import { appRouter } from '../../../../lib/trpc'

export const dynamic = 'force-dynamic'

function handler(req) {
  return fetchRequestHandler({ endpoint: '/api/trpc', req, router: appRouter, createContext: () => ({}) })
}

export { handler as GET, handler as POST }
