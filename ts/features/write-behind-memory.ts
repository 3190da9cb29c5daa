/** The in-process write-behind journal of memory mode (same interface, not crash-durable). */
import type { DeadRecord, Journal, Journaled } from './write-behind-records'

const seqOf = (id: string): number => Number(id.slice(id.indexOf('-') + 1))

/** The in-process journal of memory mode: same behaviour within one process, lost with it. */
export class MemoryJournal implements Journal {
  readonly partitions = 1
  private entries: Journaled[] = []
  private readonly dead: DeadRecord[] = []
  private seq = 0

  append(
    _part: number,
    key: string,
    op: 's' | 'd',
    codec: number,
    data: string | Uint8Array,
  ): Promise<string> {
    const id = `${Date.now()}-${++this.seq}`
    this.entries.push({
      id,
      uid: id,
      key,
      op,
      codec,
      data: typeof data === 'string' ? data : Buffer.from(data),
    })
    return Promise.resolve(id)
  }
  acquire(): Promise<number[]> {
    return Promise.resolve([0])
  }
  read(_part: number, count: number): Promise<Journaled[]> {
    // Unfinished entries come first again (as a consumer group's pending list would).
    return Promise.resolve(this.entries.slice(0, count))
  }
  done(_part: number, ids: string[]): Promise<void> {
    const gone = new Set(ids)
    this.entries = this.entries.filter((e) => !gone.has(e.id))
    return Promise.resolve()
  }
  deadLetter(e: Journaled, attempts: number, error: string): Promise<void> {
    this.dead.push({ ...e, attempts, error })
    return Promise.resolve()
  }
  deadLetters(count: number): Promise<DeadRecord[]> {
    return Promise.resolve(this.dead.slice(0, count))
  }
  marks(): Promise<string[]> {
    return Promise.resolve([this.entries.length === 0 ? '' : this.entries[this.entries.length - 1].id])
  }
  reached(marks: string[]): Promise<boolean> {
    if (marks[0] === '') return Promise.resolve(true)
    const upTo = seqOf(marks[0])
    return Promise.resolve(!this.entries.some((e) => seqOf(e.id) <= upTo))
  }
  length(): Promise<number> {
    return Promise.resolve(this.entries.length)
  }
  release(): Promise<void> {
    return Promise.resolve()
  }
}
