// tarn console: the dataset viewer. It reads a version's manifest and the rows of its
// Parquet data files straight from the store, with ranged GETs on presigned URLs that the
// console mints for the signed-in user; tarn itself serves no byte of data. Of each data
// file it reads the footer, the offset index of the columns shown and the pages holding
// the rows of the page shown, nothing else.
import { parquetMetadataAsync, parquetReadObjects } from "./vendor/hyparquet/index.js";
import { decompress } from "./vendor/fzstd/index.js";

// Renew a URL this long before it expires; a URL the store refuses anyway (a clock ahead,
// a credential revoked) is renewed once and the read retried.
const renewAheadMs = 60_000;
// The footer read of a data file: enough for the metadata of most files in one request.
const footerBytes = 64 << 10;
const pageSizes = [25, 50, 100];
const compressors = { ZSTD: (input, size) => decompress(input, new Uint8Array(size)) };

// ViewerError is a problem to show in words instead of rows.
class ViewerError extends Error {}

// CORSError is a request the browser refused to make or whose answer it hid: the store's
// CORS rules do not allow this page's origin, or the store cannot be reached.
class CORSError extends ViewerError {}

function start(root) {
  const d = root.dataset;
  // Store requests and body bytes so far, and per page shown: its time from the start of
  // its render (and from the page load) until its images were decoded, the store requests
  // and bytes read for it and the bytes of the images it shows. Tests and benchmarks read them.
  const stats = { requests: 0, bytes: 0, pages: [] };
  // The clock by which URLs are renewed; tests move it to make cached URLs look fresh or old.
  const clock = { now: () => Date.now() };
  window.tarnViewer = { stats, clock };
  const urls = new URLCache(d.org, d.name, d.csrf, clock);
  const store = new Store(urls, stats);
  const versions = d.versions.split(",").filter(Boolean).map(Number);
  const params = new URLSearchParams(location.search);
  const state = {
    version: versions.includes(Number(params.get("version"))) ? Number(params.get("version")) : versions[0],
    page: Math.max(0, Number.parseInt(params.get("page") ?? "1", 10) - 1 || 0),
    size: pageSizes.includes(Number(params.get("rows"))) ? Number(params.get("rows")) : 50,
    hidden: new Set((params.get("hide") ?? "").split(",").filter(Boolean)),
  };
  const ui = build(root, versions, state);
  let manifest = null;
  let shown = []; // object URLs of the page shown, revoked when it is replaced
  let generation = 0; // the latest render; an older one that finishes late is dropped

  async function render() {
    const mine = ++generation;
    ui.status.textContent = "Reading rows from the store…";
    ui.status.className = "viewer-status";
    root.setAttribute("aria-busy", "true");
    saveState(state);
    try {
      performance.mark("tarn-viewer-start");
      const bytesBefore = stats.bytes, requestsBefore = stats.requests;
      if (!manifest || manifest.version !== state.version) {
        manifest = await store.json(versionKey(state.version));
        ui.columns(manifest.schema.columns, state.hidden);
      }
      const columns = manifest.schema.columns.filter((c) => !state.hidden.has(c.name));
      const total = manifest.rows;
      const pages = Math.max(1, Math.ceil(total / state.size));
      state.page = Math.min(state.page, pages - 1);
      const first = state.page * state.size;
      const last = Math.min(total, first + state.size);
      const rows = await readRows(store, manifest, columns, first, last);
      if (mine !== generation) return;
      const next = [];
      const linked = await linkedObjects(urls, store, columns, rows, next);
      if (mine !== generation) {
        for (const u of next) URL.revokeObjectURL(u);
        return;
      }
      ui.grid.replaceChildren(table(columns, rows, first, next, linked, (i) => showRow(ui.dialog, columns, rows[i], first + i, next, linked)));
      await decoded(ui.grid);
      const took = performance.measure("tarn-viewer-page", "tarn-viewer-start");
      stats.pages.push({ version: state.version, page: state.page + 1, ms: took.duration, sinceLoadMs: performance.now(),
        bytes: stats.bytes - bytesBefore, requests: stats.requests - requestsBefore, imageBytes: imageBytes(columns, rows) });
      for (const u of shown) URL.revokeObjectURL(u);
      shown = next;
      ui.pager(first, last, total, state.page, pages);
      ui.status.textContent = "";
      root.dataset.ready = String(state.version) + ":" + String(state.page + 1);
    } catch (err) {
      const lines = await explain(err, d);
      if (mine !== generation) return;
      ui.grid.replaceChildren();
      ui.status.className = "viewer-status error";
      ui.status.replaceChildren(...lines.map((line) => el("span", { class: "line" }, line)));
      delete root.dataset.ready;
    } finally {
      if (mine === generation) root.removeAttribute("aria-busy");
    }
  }

  ui.onVersion = (v) => { state.version = v; state.page = 0; render(); };
  ui.onPage = (p) => { state.page = p; render(); };
  ui.onSize = (n) => { state.page = Math.floor((state.page * state.size) / n); state.size = n; render(); };
  ui.onColumns = (hidden) => { state.hidden = hidden; render(); };
  render();
}

// versionKey is the manifest of version v: versions/v%020d.json.
function versionKey(v) {
  return "versions/v" + String(v).padStart(20, "0") + ".json";
}

// saveState keeps the version, page, page size and hidden columns in the address, so a
// view can be reloaded and shared.
function saveState(state) {
  const p = new URLSearchParams();
  p.set("version", String(state.version));
  if (state.page > 0) p.set("page", String(state.page + 1));
  if (state.size !== 50) p.set("rows", String(state.size));
  if (state.hidden.size) p.set("hide", [...state.hidden].join(","));
  history.replaceState(null, "", "?" + p.toString());
}

// URLCache asks the console for presigned URLs and keeps them until shortly before they
// expire.
class URLCache {
  constructor(org, name, csrf, clock) {
    this.endpoint = `/orgs/${encodeURIComponent(org)}/datasets/${encodeURIComponent(name)}/urls`;
    this.csrf = csrf;
    this.clock = clock;
    this.cache = new Map(); // key -> {url, expires}
    this.linkCache = new Map(); // creds key + " " + link -> {url, expires}
  }

  // get returns a URL for each of keys, in order, asking for those not cached in one call.
  async get(keys) {
    const now = this.clock.now();
    const missing = keys.filter((k) => !(this.cache.get(k)?.expires - renewAheadMs > now));
    if (missing.length) {
      const body = new URLSearchParams({ csrf: this.csrf });
      for (const k of missing) body.append("path", k);
      const answer = await this.ask(body);
      const expires = Date.parse(answer.expires_at);
      for (const [k, url] of Object.entries(answer.urls)) this.cache.set(k, { url, expires });
    }
    return keys.map((k) => this.cache.get(k).url);
  }

  // links returns, by link, {url} or {error} (why tarn refused it) for the links of
  // byKey (a Map of creds key to links read through it), asking for those not cached in
  // one call.
  async links(byKey) {
    const now = this.clock.now();
    const body = new URLSearchParams({ csrf: this.csrf });
    const asked = [];
    for (const [key, links] of byKey) {
      for (const l of new Set(links)) {
        if (this.linkCache.get(key + " " + l)?.expires - renewAheadMs > now) continue;
        body.append("link:" + key, l);
        asked.push([key, l]);
      }
    }
    const errors = asked.length ? await this.ask(body).then((answer) => {
      const expires = Date.parse(answer.expires_at);
      for (const [key, l] of asked) if (answer.links?.[l]) this.linkCache.set(key + " " + l, { url: answer.links[l], expires });
      return answer.link_errors ?? {};
    }) : {};
    const out = new Map();
    for (const [key, links] of byKey) {
      for (const l of links) {
        const url = this.linkCache.get(key + " " + l)?.url;
        out.set(l, url ? { url } : { error: errors[l] ?? "tarn answered no URL for this link." });
      }
    }
    return out;
  }

  // ask posts body to the console and returns its answer, or throws a ViewerError saying
  // why there is none.
  async ask(body) {
    let res;
    try {
      res = await fetch(this.endpoint, { method: "POST", body, credentials: "same-origin" });
    } catch {
      throw new ViewerError("The console could not be reached. Check your connection and reload the page.");
    }
    const answer = await res.json().catch(() => null);
    if (!res.ok || !answer?.urls) {
      if (answer?.error) throw new ViewerError(answer.error);
      throw new ViewerError("Your session has ended or the console refused the request: reload the page and sign in again.");
    }
    return answer;
  }

  forget(key) {
    this.cache.delete(key);
  }
}

// Store reads objects of the dataset through presigned URLs.
class Store {
  constructor(urls, stats) {
    this.urls = urls;
    this.stats = stats;
  }

  // read returns the bytes of key, or of its range [start, end) when given. A URL the store
  // refuses (expired, or the clock of the console ahead of the store's) is renewed once.
  async read(key, start, end) {
    for (let attempt = 0; ; attempt++) {
      const [url] = await this.urls.get([key]);
      const res = await this.send(url, start === undefined ? {} : { Range: `bytes=${start}-${end - 1}` });
      if ((res.status === 403 || res.status === 401) && attempt === 0) {
        this.urls.forget(key);
        continue;
      }
      if (res.status === 403 || res.status === 401) {
        throw new ViewerError(`The store refused to read ${key} (HTTP ${res.status}) with a fresh URL: your access may have been revoked, or the store's clock is off. Reload the page to try again.`);
      }
      if (!res.ok) throw new ViewerError(`The store answered HTTP ${res.status} for ${key}.`);
      const body = await this.body(res);
      if (start !== undefined && res.status !== 206 && body.byteLength !== end - start) {
        // A store that ignores Range sends the whole object: take the part asked for.
        return body.slice(start, end);
      }
      return body;
    }
  }

  // fetchURL returns the bytes of a linked object at its presigned url.
  async fetchURL(url) {
    const res = await this.send(url, {});
    if (!res.ok) throw new ViewerError(`The store answered HTTP ${res.status} for this linked object.`);
    return this.body(res);
  }

  // send GETs url with headers and counts the request; a request the browser blocked (or
  // whose answer it hid) is a CORSError naming the store's origin.
  async send(url, headers) {
    let res;
    try {
      res = await fetch(url, { headers, credentials: "omit", cache: "no-store" });
    } catch {
      throw new CORSError(new URL(url, location.href).origin);
    }
    this.stats.requests++;
    return res;
  }

  // body returns the bytes of res and counts them.
  async body(res) {
    const b = await res.arrayBuffer();
    this.stats.bytes += b.byteLength;
    return b;
  }

  async json(key) {
    return JSON.parse(new TextDecoder().decode(await this.read(key)));
  }

  // file returns the Parquet file at key, of size bytes, as hyparquet reads files: slices
  // of it, each a ranged GET.
  file(key, size) {
    return { byteLength: size, slice: (start, end = size) => this.read(key, start, end) };
  }
}

const footers = new Map(); // data file key -> metadata promise; data files never change

// readRows returns rows [first, last) of the version of manifest m, with the given columns,
// reading each data file that holds some of them.
async function readRows(store, m, columns, first, last) {
  const parts = [];
  let offset = 0;
  for (const f of m.files) {
    const from = Math.max(first, offset), to = Math.min(last, offset + f.rows);
    if (from < to) parts.push({ f, rowStart: from - offset, rowEnd: to - offset });
    offset += f.rows;
  }
  const names = columns.map((c) => c.name);
  const chunks = await Promise.all(parts.map(async ({ f, rowStart, rowEnd }) => {
    const file = store.file(f.path, f.bytes);
    if (!footers.has(f.path)) {
      const p = parquetMetadataAsync(file, { initialFetchSize: footerBytes });
      p.catch(() => footers.delete(f.path));
      footers.set(f.path, p);
    }
    const metadata = await footers.get(f.path);
    // Columns a file lacks (added to the schema later) read as null.
    const have = new Set(metadata.schema.map((e) => e.name));
    const read = names.filter((n) => have.has(n));
    const rows = read.length
      ? await parquetReadObjects({ file, metadata, rowStart, rowEnd, columns: read, compressors, useOffsetIndex: true, utf8: false })
      : Array.from({ length: rowEnd - rowStart }, () => ({}));
    return rows;
  }));
  return chunks.flat();
}

// linkedObjects returns, by link, what the page shows of the links of rows in link
// columns that have a link key and hold storage URLs (https:// links are shown as text):
// {url} (presigned), {url, image} (an object URL of a linked image, added to objects) or
// {error} (why the link cannot be shown), asking the console for all URLs in one call.
async function linkedObjects(urls, store, columns, rows, objects) {
  const byKey = new Map();
  const images = new Set();
  for (const c of columns) {
    if (c.type.kind !== "link" || !c.link_key) continue;
    for (const r of rows) {
      const v = r[c.name];
      if (v === null || v === undefined) continue;
      const link = textOf(v);
      if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(link) || /^https?:/i.test(link)) continue;
      if (!byKey.has(c.link_key)) byKey.set(c.link_key, []);
      byKey.get(c.link_key).push(link);
      if (c.type.target === "image") images.add(link);
    }
  }
  if (!byKey.size) return new Map();
  const linked = await urls.links(byKey);
  await Promise.all([...images].map(async (link) => {
    const l = linked.get(link);
    if (!l.url) return;
    try {
      const bytes = await store.fetchURL(l.url);
      l.image = URL.createObjectURL(new Blob([bytes], { type: imageTypes[link.split(".").at(-1).toLowerCase()] ?? "application/octet-stream" }));
      objects.push(l.image);
    } catch (err) {
      l.error = err instanceof CORSError
        ? `Your browser could not read the linked image from ${err.message}: the bucket's CORS rules may not allow this console's origin (tarn cors set).`
        : err.message;
    }
  }));
  return linked;
}

// linkCell shows link v as refused ("—", with the reason as its tooltip), as the linked
// image, or as its text.
function linkCell(c, v, linked) {
  const link = textOf(v);
  const l = linked.get(link);
  if (l?.error) return el("span", { class: "muted link-refused", title: l.error }, "—");
  if (l?.image) return el("img", { src: l.image, alt: `linked image ${shorten(link, 60)}`, title: link, loading: "eager", decoding: "async" });
  return el("span", { title: link }, shorten(link, 60));
}

// imageBytes is the size of the encoded images of rows.
function imageBytes(columns, rows) {
  let n = 0;
  for (const c of columns) if (c.type.kind === "image") for (const r of rows) n += r[c.name]?.data?.length ?? 0;
  return n;
}

// decoded waits until every image of el is decoded, or failed to be.
async function decoded(el) {
  await Promise.all([...el.querySelectorAll("img")].map((img) => img.decode().catch(() => {})));
}

// explain turns an error into the lines to show instead of rows. For a read the browser
// blocked, it asks the console to check the store's CORS rules for this page's origin (the
// console sends the same preflight and ranged GET as the browser, server-side) and shows
// what it found.
async function explain(err, d) {
  if (!(err instanceof CORSError)) {
    if (err instanceof ViewerError) return [err.message];
    console.warn("tarn viewer:", err);
    return [`The rows could not be read: ${err?.message ?? err}.`];
  }
  const origin = location.origin, store = err.message;
  let check = null;
  try {
    const res = await fetch(`/orgs/${encodeURIComponent(d.org)}/datasets/${encodeURIComponent(d.name)}/cors`,
      { method: "POST", body: new URLSearchParams({ csrf: d.csrf }), credentials: "same-origin" });
    check = await res.json();
  } catch {
    // Say what is likely, below.
  }
  if (check?.problem === "") {
    return [`Your browser could not reach the store at ${store}, although its CORS rules allow this console: check that the store's address can be reached from your network.`];
  }
  if (check?.problem && !check.missing) return [`Your browser could not read from the store at ${store}: ${check.problem}.`];
  const lines = [`Your browser could not read the rows from the store at ${store}: its CORS rules do not let this console (${origin}) read with ranged requests.`];
  if (check?.failed?.length) lines.push(`Failed: ${check.failed.join(", ")}.`);
  lines.push(`The rule to add to the bucket: ${check?.rule ?? `allow GET and HEAD from ${origin} with the Range header, exposing ETag and Content-Range`}.`);
  lines.push(`With tarn: tarn cors set ${d.location} --origin ${origin} (for MinIO it names the server-wide setting instead), then tarn cors check ${d.path} --origin ${origin}.`);
  return lines;
}

// build makes the viewer's controls: version, columns, page size, pager; grid and dialog.
function build(root, versions, state) {
  const ui = {};
  const bar = el("div", { class: "viewer-bar" });
  const version = el("select", { id: "viewer-version", "aria-label": "Version" });
  for (const v of versions) version.append(el("option", { value: String(v) }, v === versions[0] ? `version ${v} (latest)` : `version ${v}`));
  version.value = String(state.version);
  version.addEventListener("change", () => ui.onVersion(Number(version.value)));

  const picker = el("details", { class: "viewer-columns" });
  const summary = el("summary", {}, "Columns");
  const boxes = el("div", { class: "viewer-columns-list" });
  picker.append(summary, boxes);

  const size = el("select", { id: "viewer-size", "aria-label": "Rows per page" });
  for (const n of pageSizes) size.append(el("option", { value: String(n) }, `${n} rows a page`));
  size.value = String(state.size);
  size.addEventListener("change", () => ui.onSize(Number(size.value)));

  const prev = el("button", { type: "button", id: "viewer-prev" }, "← Previous");
  const next = el("button", { type: "button", id: "viewer-next" }, "Next →");
  const where = el("span", { class: "viewer-where", id: "viewer-where" });
  let page = 0;
  prev.addEventListener("click", () => ui.onPage(page - 1));
  next.addEventListener("click", () => ui.onPage(page + 1));
  prev.disabled = next.disabled = true;

  bar.append(el("label", { for: "viewer-version" }, "Show"), version, picker, size, el("span", { class: "viewer-pager" }, prev, where, next));
  ui.status = el("p", { class: "viewer-status", role: "status", id: "viewer-status" });
  ui.grid = el("div", { class: "viewer-grid", id: "viewer-grid" });
  ui.dialog = el("dialog", { class: "viewer-row", id: "viewer-row" });
  root.append(bar, ui.status, ui.grid, ui.dialog);

  ui.columns = (cols, hidden) => {
    boxes.replaceChildren();
    for (const c of cols) {
      const box = el("input", { type: "checkbox", name: "column", value: c.name });
      box.checked = !hidden.has(c.name);
      box.addEventListener("change", () => {
        const h = new Set([...boxes.querySelectorAll("input")].filter((b) => !b.checked).map((b) => b.value));
        summary.textContent = `Columns (${cols.length - h.size} of ${cols.length})`;
        ui.onColumns(h);
      });
      boxes.append(el("label", {}, box, " ", c.name, el("span", { class: "muted" }, " " + typeName(c.type))));
    }
    summary.textContent = `Columns (${cols.length - [...hidden].filter((n) => cols.some((c) => c.name === n)).length} of ${cols.length})`;
  };
  ui.pager = (first, last, total, p, pages) => {
    page = p;
    where.textContent = total ? `rows ${first + 1}–${last} of ${total}` : "no rows";
    prev.disabled = p <= 0;
    next.disabled = p >= pages - 1;
  };
  return ui;
}

// table renders rows (the first of which is row number first) as a grid; objects collects
// the object URLs made for images; open(i) shows row i in full.
function table(columns, rows, first, objects, linked, open) {
  const t = el("table", { class: "viewer-table" });
  const head = el("tr", {}, el("th", { class: "num" }, "#"));
  for (const c of columns) head.append(el("th", { title: typeName(c.type) }, c.name));
  t.append(el("thead", {}, head));
  const body = el("tbody");
  rows.forEach((row, i) => {
    const button = el("button", { type: "button", class: "link", title: "Show the whole row" }, String(first + i));
    button.addEventListener("click", () => open(i));
    const tr = el("tr", {}, el("td", { class: "num" }, button));
    for (const c of columns) tr.append(el("td", { class: "kind-" + c.type.kind }, cell(c, row[c.name], objects, linked)));
    body.append(tr);
  });
  t.append(body);
  return t;
}

// cell renders value v of column c compactly for a grid cell.
function cell(c, v, objects, linked) {
  if (v === null || v === undefined) return el("span", { class: "muted" }, "null");
  switch (c.type.kind) {
    case "image": {
      const url = imageURL(v, objects);
      return el("img", { src: url, alt: `${v.format} image, ${size(v.data.length)}`, loading: "eager", decoding: "async" });
    }
    case "bytes":
      return el("span", { class: "muted" }, `<bytes ${size(v.length)}>`);
    case "embedding":
    case "tensor":
      return el("span", { class: "mono" }, summary(c.type, v));
    case "link":
      return linkCell(c, v, linked);
    case "json":
    case "text":
      return el("span", { title: textOf(v) }, shorten(textOf(v), 60));
  }
  return el("span", { class: "mono" }, scalar(v));
}

// showRow shows row number n in full in the dialog, each value with a download of its raw
// bytes.
function showRow(dialog, columns, row, n, objects, linked) {
  const close = el("button", { type: "button", class: "viewer-close" }, "Close");
  close.addEventListener("click", () => dialog.close());
  const list = el("dl", { class: "viewer-fields" });
  for (const c of columns) {
    const v = row[c.name];
    const dd = el("dd");
    if (v === null || v === undefined) {
      dd.append(el("span", { class: "muted" }, "null"));
    } else {
      if (c.type.kind === "image") dd.append(el("img", { src: imageURL(v, objects), alt: `${v.format} image` }), el("br"));
      if (c.type.kind === "link") dd.append(linkDetail(c, v, linked.get(textOf(v)), n, objects));
      dd.append(el("pre", {}, full(c, v)));
      const [bytes, type, ext] = raw(c, v);
      const href = URL.createObjectURL(new Blob([bytes], { type }));
      objects.push(href);
      dd.append(el("a", { href, download: `row-${n}-${c.name}.${ext}`, class: "download" }, `Download ${c.name} (${size(bytes.length ?? bytes.byteLength)})`));
    }
    list.append(el("dt", {}, c.name, el("span", { class: "muted" }, " " + typeName(c.type))), dd);
  }
  dialog.replaceChildren(el("div", { class: "viewer-row-head" }, el("h3", {}, `Row ${n}`), close), list);
  if (!dialog.open) dialog.showModal();
}

// linkDetail shows linked object l of link v in the row view: the image, an "open" link to
// its presigned URL and a download of its bytes; or why it cannot be shown.
function linkDetail(c, v, l, n, objects) {
  const box = el("div", { class: "viewer-link" });
  if (!l) return box;
  if (l.error) {
    box.append(el("span", { class: "muted link-refused", title: l.error }, "— " + l.error));
    return box;
  }
  if (l.image) box.append(el("img", { src: l.image, alt: "linked image" }), el("br"));
  box.append(el("a", { href: l.url, target: "_blank", rel: "noopener noreferrer", class: "open" }, "Open linked object"), " · ");
  const save = el("button", { type: "button", class: "link download" }, `Download linked ${c.type.target ?? "object"}`);
  save.addEventListener("click", async () => {
    try {
      const bytes = await fetch(l.url, { credentials: "omit" }).then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.blob();
      });
      const href = URL.createObjectURL(bytes);
      objects.push(href);
      const a = el("a", { href, download: textOf(v).split("/").at(-1) || `row-${n}-${c.name}` });
      a.click();
    } catch (err) {
      save.replaceWith(el("span", { class: "muted" }, `The linked object could not be read: ${err.message}`));
    }
  });
  box.append(save);
  return box;
}

const imageTypes = { jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", gif: "image/gif", webp: "image/webp", bmp: "image/bmp", avif: "image/avif", tif: "image/tiff", tiff: "image/tiff" };

function imageURL(v, objects) {
  const url = URL.createObjectURL(new Blob([v.data], { type: imageTypes[v.format?.toLowerCase()] ?? "application/octet-stream" }));
  objects.push(url);
  return url;
}

// raw returns the bytes value v stands for, as `tarn ds get --raw` writes them, with a
// media type and a file extension.
function raw(c, v) {
  switch (c.type.kind) {
    case "image": return [v.data, imageTypes[v.format?.toLowerCase()] ?? "application/octet-stream", v.format || "bin"];
    case "bytes": return [v, "application/octet-stream", "bin"];
    case "json": return [new TextEncoder().encode(textOf(v)), "application/json", "json"];
    case "text":
    case "link": return [new TextEncoder().encode(textOf(v)), "text/plain", "txt"];
  }
  return [new TextEncoder().encode(full(c, v) + "\n"), "text/plain", "txt"];
}

// full returns value v of column c in full as text.
function full(c, v) {
  switch (c.type.kind) {
    case "image": return `${v.format} image, ${size(v.data.length)}`;
    case "bytes": return `${size(v.length)} of bytes`;
    case "embedding":
    case "tensor": return "[" + Array.from(v, scalar).join(", ") + "]";
    case "json": {
      try { return JSON.stringify(JSON.parse(textOf(v)), null, 2); } catch { return textOf(v); }
    }
    case "text":
    case "link": return textOf(v);
  }
  return scalar(v);
}

// summary shows an embedding or tensor as its shape and its first values.
function summary(type, v) {
  const values = Array.from(v);
  const head = values.slice(0, 4).map(scalar).join(", ") + (values.length > 4 ? ", …" : "");
  const shape = type.kind === "embedding" ? `[${type.dim}]` : `[${(type.shape ?? []).join("×")}]`;
  return `${shape} ${head}`;
}

function textOf(v) {
  return typeof v === "string" ? v : new TextDecoder().decode(v);
}

function scalar(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Math.fround(v) === v ? Number(v.toPrecision(7)) : v);
  return String(v);
}

function shorten(s, n) {
  const chars = [...s];
  return chars.length > n ? chars.slice(0, n).join("") + "…" : s;
}

function typeName(t) {
  switch (t.kind) {
    case "embedding": return `embedding(${t.dim})`;
    case "tensor": return `tensor(${t.dtype}, [${(t.shape ?? []).join(" ")}])`;
    case "link": return `link(${t.target})`;
  }
  return t.kind;
}

function size(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// el makes an element with attributes and children (strings become text, never HTML).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

// Last, once the classes above are defined.
const root = document.getElementById("viewer");
if (root) start(root);
