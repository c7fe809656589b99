// What the views share: the session's read-only flag and the current view's polling timers.

export const state = { readOnly: false };

let timers = [];

// every runs fn every ms while el is in the page, until the view changes. A view left while it still loaded sets its
// timers after the router stopped the old ones, on elements no longer in the page: those timers stop at their first
// tick, without running fn.
export function every(ms, fn, el) {
  const t = setInterval(() => {
    if (el.isConnected) {
      fn();
      return;
    }
    clearInterval(t);
    timers = timers.filter((x) => x !== t);
  }, ms);
  timers.push(t);
}

export function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}
