// Photo and thumbnail URLs need the physician's `Authorization: Bearer` header, which an
// <img src> cannot send: fetch each once as a blob and hand out an object URL. The URLs are
// revoked when the page no longer needs them (the consult ends).

export class PhotoBlobs {
  constructor(token) {
    this.token = token;
    this.urls = new Map(); // API path → Promise<object URL>
  }

  /** Resolves with an object URL for `path` (fetched once). */
  get(path) {
    if (!this.urls.has(path)) {
      const loading = fetch(path, { headers: { Authorization: `Bearer ${this.token}` } })
        .then((response) => {
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          return response.blob();
        })
        .then((blob) => URL.createObjectURL(blob));
      // A failed fetch is not remembered: the next look tries again.
      loading.catch(() => this.urls.delete(path));
      this.urls.set(path, loading);
    }
    return this.urls.get(path);
  }

  /** Point `img` at `path` once it is loaded; `img` shows nothing meanwhile. */
  async show(img, path) {
    try {
      img.src = await this.get(path);
      img.classList.remove("failed");
    } catch {
      img.classList.add("failed");
    }
  }

  clear() {
    for (const loading of this.urls.values()) loading.then((url) => URL.revokeObjectURL(url)).catch(() => {});
    this.urls.clear();
  }
}
