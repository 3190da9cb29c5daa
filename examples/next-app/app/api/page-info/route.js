// A static route handler: its response is cached (shared through Valkey) until revalidated.
export const revalidate = 3600

export async function GET() {
  return Response.json({ routeId: Math.random().toString(36).slice(2, 10) })
}
