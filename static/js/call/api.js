// The HTTP API as the call page uses it (server/api/consults_api.py, server/api/photos_api.py,
// server/api/system_api.py).
// Every error becomes an ApiError carrying the problem document's code, detail and, for
// 422, errors[{field, message}].

const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 0 ? "network" : "http_error");
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  async request(method, path, body) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, signal: controller.signal, cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      // Offline, DNS, timeout: the same advice for all of them.
      throw new ApiError(0, { code: "network" });
    } finally {
      clearTimeout(timer);
    }
    const text = await response.text();
    let data = {};
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = { detail: text.slice(0, 200) };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  session() {
    return this.request("GET", "/api/session");
  }

  consult(id) {
    return this.request("GET", `/api/consults/${encodeURIComponent(id)}`);
  }

  acceptRecordingNotice(id) {
    return this.request("POST", `/api/consults/${encodeURIComponent(id)}/recording-notice`);
  }

  putIntake(id, data) {
    return this.request("PUT", `/api/consults/${encodeURIComponent(id)}/intake`, data);
  }

  photos(id) {
    return this.request("GET", `/api/consults/${encodeURIComponent(id)}/photos`);
  }

  growth(id) {
    return this.request("GET", `/api/consults/${encodeURIComponent(id)}/growth`);
  }

  intakeForm(specialty) {
    return this.request("GET", `/api/intake-forms/${encodeURIComponent(specialty)}`);
  }
}
