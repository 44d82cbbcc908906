// The server's validation messages (English, from server/clinical/intake.py, server/clinical/outcome.py and
// pydantic) in the page's language. Known messages map to catalogue entries; anything else is shown as the
// server wrote it, which is still better than nothing next to the right field.

const KNOWN = [
  // The outcome (server/clinical/outcome.py, referral.py, prescription.py).
  [/^(.+?): (?:\w+ drugs|narcotic and psychotropic drugs) may not be prescribed online/, "call.fieldmsg.controlled_drug",
    (m) => ({ drug: m[1] })],
  [/^(.+?): prescribed only at an in-person visit/, "call.fieldmsg.offline_only", (m) => ({ drug: m[1] })],
  [/^a supply of (\d+) days or more needs long_supply_reason/, "call.fieldmsg.long_supply_reason", (m) => ({ days: m[1] })],
  [/^String should match pattern '\^\[A-TV-Z\]/, "call.fieldmsg.icd10"],
  [/^String should match pattern '\^\[0-9A-Za-z-\]/, "call.fieldmsg.licence"],
  [/^String should have at least 1 character/, "call.fieldmsg.required"],
  [/^unknown department/, "call.fieldmsg.department"],
  [/^reason 'other' needs reason_text/, "call.fieldmsg.reason_text"],
  [/^a possible emergency must be referred with urgency 'emergency'/, "call.fieldmsg.emergency_urgency"],
  [/needs the referral$/, "call.fieldmsg.referral_needed"],
  [/^Input should be '/, "call.fieldmsg.choose"],
  // Units and plausibility against the child's age (server/clinical/intake.py, growth/plausibility.py).
  [/^([\d.]+) looks like metres \(([\d.]+) cm\) or 市尺 \(([\d.]+) cm\)/, "call.fieldmsg.metres_or_chi",
    (m) => ({ m: m[2], c: m[3] })],
  [/^([\d.]+) looks like 市尺 \([\d.]+ 尺 = ([\d.]+) cm\)/, "call.fieldmsg.chi", (m) => ({ cm: m[2] })],
  [/^([\d.]+) looks like 斤 \([\d.]+ 斤 = ([\d.]+) kg\); give it in kg, or confirm/, "call.fieldmsg.jin_confirm",
    (m) => ({ v: m[1], kg: m[2] })],
  [/^([\d.]+) looks like 斤 \([\d.]+ 斤 = ([\d.]+) kg\)/, "call.fieldmsg.jin", (m) => ({ v: m[1], kg: m[2] })],
  [/^([\d.]+) kg at ([\d.]+) cm is not plausible/, "call.fieldmsg.implausible_ratio", (m) => ({ w: m[1], h: m[2] })],
  [/^([\d.]+) (kg|cm) is not plausible at/, "call.fieldmsg.implausible", (m) => ({ v: m[1], unit: m[2] })],
  [/looks like metres; give it in (\w+)/, "call.fieldmsg.metres", (m) => ({ unit: m[1] })],
  [/looks like grams; give it in kg/, "call.fieldmsg.grams"],
  [/must be between ([\d.]+) and ([\d.]+) (\w+)/, "call.fieldmsg.between",
    (m) => ({ low: m[1], high: m[2], unit: m[3] })],
  [/^required for children under 3$/, "call.fieldmsg.head_required"],
  [/^required$/, "call.fieldmsg.required"],
  [/^is in the future$/, "call.fieldmsg.future"],
  [/^is before the child's birth date$/, "call.fieldmsg.before_birth"],
  [/^holds no measurement$/, "call.fieldmsg.no_measurement"],
  [/^must be before the current measurement$/, "call.fieldmsg.before_current"],
  [/already given$/, "call.fieldmsg.duplicate_date"],
  [/^not a body-site code$/, "call.fieldmsg.site"],
  [/greater than or equal to ([\d.]+)/, "call.fieldmsg.min", (m) => ({ min: m[1] })],
  [/less than or equal to ([\d.]+)/, "call.fieldmsg.max", (m) => ({ max: m[1] })],
  [/should have at least (\d+) item/, "call.fieldmsg.min_items", (m) => ({ n: m[1] })],
  [/should have at most (\d+) item/, "call.fieldmsg.max_items", (m) => ({ n: m[1] })],
  [/should be a valid (number|integer)|should be a finite number/, "call.fieldmsg.number"],
  [/should be a valid date/, "call.fieldmsg.date"],
  [/at most (\d+) characters/, "call.fieldmsg.too_long", (m) => ({ n: m[1] })],
];

/** {key, vars} for setText(). */
export function fieldMessage(serverMessage) {
  const message = String(serverMessage || "").replace(/^Value error, /, "");
  for (const [pattern, key, vars] of KNOWN) {
    const match = message.match(pattern);
    if (match) return { key, vars: vars ? vars(match) : {} };
  }
  return { key: "call.value", vars: { value: message } };
}
