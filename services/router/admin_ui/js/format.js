// How the panel shows numbers, dates, durations and account states.

export const STATES = ["active", "pending", "cooldown", "exhausted", "disabled", "needs_relogin", "invalid"];
export const STATE_LABELS = {
  active: "Active", pending: "Pending", cooldown: "Cooldown", exhausted: "Exhausted", disabled: "Disabled",
  needs_relogin: "Needs re-login", invalid: "Invalid",
};

const nf = new Intl.NumberFormat();
export const fmtNum = (n) => nf.format(Math.round(Number(n) || 0));
export const fmtCredits = (n) => (Number(n) || 0).toLocaleString(undefined, { maximumFractionDigits: 2 });

export function fmtDate(ts) {
  if (!ts) return "—";
  return new Date(ts * 1000).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

// a unix time as the browser's local date and time
export const fmtDateTime = (ts) => new Date(ts * 1000).toLocaleString();

export function fmtRelative(ts) {
  if (!ts) return "—";
  const diff = ts - Date.now() / 1000;
  const abs = Math.abs(diff);
  const unit = abs < 90 ? [Math.round(abs), "s"] : abs < 5400 ? [Math.round(abs / 60), "min"]
    : abs < 172800 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return diff >= 0 ? `in ${unit[0]} ${unit[1]}` : `${unit[0]} ${unit[1]} ago`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}
