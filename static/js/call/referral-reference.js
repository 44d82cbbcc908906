// Referral reasons, urgencies and departments (GET /api/reference/referral), fetched once:
// the server owns these codes and routes on them, so the page never keeps its own copy.
let loading = null;

export function loadReferralReference() {
  loading ??= fetch("/api/reference/referral", { headers: { Accept: "application/json" } })
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
    .catch((error) => {
      loading = null;
      throw error;
    });
  return loading;
}
