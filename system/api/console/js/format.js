// Numbers with their units, as the pages show them.

export function count(n) {
  return n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US");
}

/** A duration in seconds: "850 ms", "3.21 s", "4 min 12 s", "2 h 5 min", "3 d 4 h". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const sec = Math.max(0, seconds);
  if (sec < 1) return `${Math.round(sec * 1000)} ms`;
  if (sec < 10) return `${sec.toFixed(2)} s`;
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const whole = Math.round(sec);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  if (whole < 86400) return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
  return `${Math.floor(whole / 86400)} d ${Math.floor((whole % 86400) / 3600)} h`;
}

/** Tasks per second. */
export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined) return "–";
  const digits = perSecond === 0 ? 0 : perSecond < 10 ? 2 : 1;
  return `${perSecond.toFixed(digits)} tasks/s`;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** A date-time from the API (ISO 8601) in local time: "14:03:07.120", with the date
 *  in front when it is not today. */
export function time(iso, { millis = false } = {}) {
  if (!iso) return "–";
  const d = new Date(iso);
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const ms = millis ? `.${pad(d.getMilliseconds(), 3)}` : "";
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `;
  return `${sameDay ? "" : date}${clock}${ms}`;
}

/** "3.2 s ago" from an ISO date-time. */
export function ago(iso, nowMs = Date.now()) {
  if (!iso) return "–";
  return `${duration((nowMs - Date.parse(iso)) / 1000)} ago`;
}

/** Seconds between two ISO date-times (null when either is missing). */
export function between(fromIso, toIso) {
  if (!fromIso || !toIso) return null;
  return (Date.parse(toIso) - Date.parse(fromIso)) / 1000;
}
