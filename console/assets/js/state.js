// What the views share: the session's read-only flag and the current view's polling timers.

export const state = { readOnly: false };

let timers = [];

// every runs fn every ms until the view changes.
export function every(ms, fn) {
  timers.push(setInterval(fn, ms));
}

export function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}
