// fieldsync web app: map, gallery, observation page (with edits, deletes
// and forks), sync view, members, add form.
// Plain JavaScript, no build step. The HTTP API is described in docs/ui.md.
// Every text that comes from the API is put in the page with textContent
// (through el() below), never as HTML. Every word of ours comes from a
// message catalog (static/i18n/CODE.json) through the function t, whose
// keys are literal strings, so that a test can check them against en.json
// (index.html's keys, in data-i18n attributes, go through htmlWord).
'use strict';

(function () {
  const PAGE = 60;           // gallery page size
  const EAGER = 24;          // first cards whose thumbnails load eagerly
  const UNPLACED_PAGE = 100;
  const LANG_KEY = 'fieldsync.lang'; // localStorage: the language chosen

  // ---------- small helpers ----------

  // el('a', {href: '#/x', class: 'y'}, 'text', child, ...): attributes are set
  // with setAttribute (never "style"), strings become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'style') throw new Error('no inline styles (CSP)');
      if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const $ = (id) => document.getElementById(id);

  // ---------- words: the message catalogs ----------

  let lang = 'en';
  let words = {};      // the chosen catalog
  let fallback = {};   // en.json, for a key a catalog lacks
  let languages = [];  // [{code, name}], from /api/languages
  let wordsReady = null; // a promise: the catalogs are loaded

  // t returns the words of key in the chosen language, with {name}
  // placeholders replaced by params.name.
  function t(key, params) {
    let s = words[key];
    if (s === undefined) s = fallback[key];
    if (s === undefined) s = key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
    return s;
  }
  const htmlWord = (key) => t(key);

  function savedLanguage() {
    try { return localStorage.getItem(LANG_KEY); } catch (_) { return null; }
  }

  // pickLanguage: the one chosen before in this browser, else the first of
  // the browser's languages there is a catalog of (the whole tag, else
  // its language: es-PE → es), else the server's default.
  function pickLanguage(list, dflt) {
    const codes = new Map(list.map((l) => [l.code.toLowerCase(), l.code]));
    const saved = savedLanguage();
    if (saved && codes.has(saved.toLowerCase())) return codes.get(saved.toLowerCase());
    for (const tag of navigator.languages || [navigator.language || '']) {
      const x = String(tag).toLowerCase();
      if (codes.has(x)) return codes.get(x);
      const primary = x.split('-')[0];
      if (codes.has(primary)) return codes.get(primary);
    }
    return dflt || 'en';
  }

  async function fetchCatalog(code) {
    const res = await fetch('/static/i18n/' + encodeURIComponent(code) + '.json', { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
    return res.json();
  }

  // loadWords asks for the list of catalogs and, meanwhile, English (the
  // fallback, and most often the default); then the chosen one.
  async function loadWords() {
    let dflt = 'en';
    const english = fetchCatalog('en').catch(() => ({}));
    try {
      const res = await fetch('/api/languages', { headers: { Accept: 'application/json' } });
      if (res.ok) {
        const j = await res.json();
        languages = j.languages || [];
        dflt = j.default || 'en';
      }
    } catch (_) { /* the catalogs below still load */ }
    lang = pickLanguage(languages, dflt);
    const [en, cat] = await Promise.all([
      dflt === 'en' ? english : fetchCatalog(dflt).catch(() => ({})),
      lang === dflt ? null : fetchCatalog(lang).catch(() => null),
    ]);
    fallback = en;
    if (cat) words = cat;
    else { words = en; lang = dflt; }
  }

  // applyStatic fills the page's fixed elements: data-i18n="key" sets an
  // element's text, data-i18n-ATTR="key" its attribute ATTR.
  function applyStatic() {
    document.documentElement.lang = lang;
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = htmlWord(e.dataset.i18n);
    for (const attr of ['aria-label', 'placeholder', 'title']) {
      for (const e of document.querySelectorAll('[data-i18n-' + attr + ']')) e.setAttribute(attr, htmlWord(e.getAttribute('data-i18n-' + attr)));
    }
    const sel = $('lang');
    sel.replaceChildren(...languages.map((l) => el('option', { value: l.code, selected: l.code === lang }, l.name)));
    sel.hidden = languages.length < 2;
  }

  // switchLanguage loads another catalog and says everything again in it.
  async function switchLanguage(code) {
    try {
      const cat = await fetchCatalog(code);
      words = cat;
      lang = code;
      try { localStorage.setItem(LANG_KEY, code); } catch (_) { /* not remembered */ }
    } catch (e) {
      showBanner(t('error.language', { error: e.message }));
      return;
    }
    applyStatic();
    redraw();
  }

  // redraw says again, in the new language, whatever is on the page.
  function redraw() {
    if (session) { applyPermissions(); renderSyncBadge(lastSync); }
    renderFilter();
    renderAddCategories();
    renderCategoriesView();
    if (map) renderTrackList();
    if (lastSync) renderSync(lastSync);
    for (const [id, c] of gallery.cards) {
      const o = obsCache.get(id);
      if (o) { const n = card(o, EAGER); c.replaceWith(n); gallery.cards.set(id, n); }
    }
    if (gallery.started) { setTotal(gallery.total); setGalleryStatus(); }
    for (const [id, li] of unplacedItems) {
      const o = obsCache.get(id);
      if (o) { const n = unplacedItem(o); li.replaceWith(n); unplacedItems.set(id, n); }
    }
    if (unplacedTotal !== null) setUnplacedCount(unplacedTotal);
    if (current === 'obs' && obsLast) drawObs(obsLast);
    if (membersLast) renderMembers(membersLast);
  }

  // ---------- formats ----------

  class HTTPError extends Error {
    constructor(status, message, field) { super(message); this.status = status; this.field = field || null; }
  }

  async function errorText(res) {
    try {
      const j = await res.json();
      if (j && j.error) return j.error;
    } catch (_) { /* not JSON */ }
    return res.status + ' ' + res.statusText;
  }

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: 'application/json' } });
    if (!res.ok) {
      const msg = await errorText(res);
      if (res.status === 401) Promise.resolve(wordsReady).then(() => showBanner(t('error.signedOut')));
      throw new HTTPError(res.status, msg);
    }
    return res.json();
  }

  // send makes a change (PATCH, DELETE, POST) with the session's CSRF
  // token and returns the JSON answer, or throws the server's words.
  async function send(method, url, body) {
    const opts = { method, headers: { Accept: 'application/json', 'X-CSRF-Token': session.csrf } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, opts);
    } catch (_) {
      throw new HTTPError(0, t('error.connection'));
    }
    if (!res.ok) {
      let j = null;
      try { j = await res.json(); } catch (_) { /* not JSON */ }
      throw new HTTPError(res.status, (j && j.error) || res.status + ' ' + res.statusText, j && j.field);
    }
    return res.json();
  }

  // failed: a refusal in words, with the server's reason as it comes
  // ("Not saved: observation … is already deleted …").
  function failed(text, e) {
    return text + ' ' + e.message;
  }

  function showBanner(msg) {
    const b = $('banner');
    b.textContent = msg;
    b.hidden = false;
  }

  function fmtBytes(n) {
    if (n === null || n === undefined || isNaN(n)) return '–';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    const digits = i === 0 ? 0 : (n < 10 ? 1 : 0);
    return n.toLocaleString(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits }) + '\u00a0' + u[i]; // no break inside "1.5 MiB"
  }
  const fmtRate = (n) => (n > 0 ? fmtBytes(n) + '/s' : '–');
  function fmtETA(s) {
    if (s === null || s === undefined || s < 0) return t('sync.etaUnknown');
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso || '';
    return d.toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
  }
  // fmtTimeExact: to the second, for versions made minutes apart.
  function fmtTimeExact(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso || '';
    return d.toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'medium' });
  }
  const fmtNum = (n) => (typeof n === 'number' ? n.toLocaleString(lang) : '–');
  const fmtCoord = (x) => x.toLocaleString(lang, { minimumFractionDigits: 5, maximumFractionDigits: 5 });
  const shortID = (id) => (id && id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-6) : id || '');
  const truncate = (s, n) => (s && s.length > n ? s.slice(0, n - 1).trimEnd() + '…' : s || '');
  function fmtPos(p) {
    if (!p) return t('obs.noPosition');
    const s = t('obs.positionFormat', { lat: fmtCoord(p.lat), lon: fmtCoord(p.lon) });
    return p.accuracy_m ? t('obs.positionAccuracy', { position: s, metres: Math.round(p.accuracy_m) }) : s;
  }
  const blobURL = (cid) => '/api/blobs/' + encodeURIComponent(cid);

  function roleWord(r) {
    switch (r) {
      case 'creator': return t('role.creator');
      case 'coordinator': return t('role.coordinator');
      case 'member': return t('role.member');
      case 'blocked': return t('role.blocked');
    }
    return r ? r : t('role.none');
  }

  // pathWord says how a connected peer is reached.
  function pathWord(p) {
    switch (p) {
      case 'lan': return t('peer.path.lan');
      case 'direct': return t('peer.path.direct');
      case 'relayed': return t('peer.path.relayed');
    }
    return p || '';
  }

  function peerStateWord(s) {
    switch (s) {
      case 'connected': return t('peer.connected');
      case 'disconnected': return t('peer.disconnected');
      case 'dropped': return t('peer.dropped');
    }
    return s;
  }

  // ---------- blobs that arrive: cid → placeholders waiting for it ----------

  const arrived = new Set();     // cids that completed since the page loaded
  const waiting = new Map();     // cid → [{el, make}]

  // stateOf is a variant's state here: present, partial or absent, as
  // the server says it; unknown when it could not tell (it leaves the
  // field out); none for a variant the attachment does not have.
  function stateOf(v) {
    if (!v) return 'none';
    return arrived.has(v.cid) ? 'present' : v.state || 'unknown';
  }

  function stateWord(st) {
    switch (st) {
      case 'present': return t('state.present');
      case 'partial': return t('state.partial');
      case 'absent': return t('state.absent');
      case 'none': return t('state.none');
    }
    return t('state.unknown');
  }

  // wait registers a placeholder element to be replaced by make() when the
  // blob cid completes (a "blob" event).
  function wait(cid, placeholder, make) {
    if (!waiting.has(cid)) waiting.set(cid, []);
    waiting.get(cid).push({ el: placeholder, make });
  }

  function blobArrived(cid) {
    arrived.add(cid);
    const list = waiting.get(cid);
    if (!list) return;
    waiting.delete(cid);
    for (const w of list) {
      // a placeholder off the page (a closed popup) is replaced too, if it
      // still has a parent to be shown in again
      if (w.el.parentNode) w.el.replaceWith(w.make());
    }
  }

  // placeholderText: why a thumbnail or preview is not shown.
  function placeholderText(what, st, v) {
    const pct = v && st === 'partial' && v.percent > 0 ? Math.floor(v.percent) : 0;
    if (what === 'thumbnail') {
      if (st === 'none') return t('thumb.none');
      return pct ? t('thumb.arrivingPercent', { percent: pct }) : t('thumb.arriving');
    }
    if (st === 'none') return t('preview.none');
    return pct ? t('preview.arrivingPercent', { percent: pct }) : t('preview.notHere');
  }

  // A thumbnail or preview: the <img> when the blob is here, otherwise a
  // placeholder that says why (and becomes the image when it arrives).
  function varImage(v, cls, what, opts) {
    opts = opts || {};
    const make = () => {
      const img = el('img', {
        class: cls, src: blobURL(v.cid), alt: opts.alt || '',
        width: v.width || null, height: v.height || null,
        loading: opts.lazy ? 'lazy' : null, decoding: 'async',
      });
      if (opts.onload) { img.addEventListener('load', opts.onload); img.addEventListener('error', opts.onload); }
      return img;
    };
    const st = stateOf(v);
    if (st === 'present') return make();
    const ph = el('div', { class: 'placeholder ' + cls + '-placeholder', 'data-state': st }, el('span', {}, placeholderText(what, st, v)));
    if (v) { ph.setAttribute('data-cid', v.cid); wait(v.cid, ph, make); }
    return ph;
  }

  // The attachment whose thumbnail represents an observation: the first photo.
  function mainAttachment(o) {
    const atts = o.attachments || [];
    return atts.find((a) => a.kind === 'photo') || atts[0] || null;
  }

  // The phone layout sizes the map from the top bar's height, which wraps.
  const bar = $('topbar');
  const setBarHeight = () => document.documentElement.style.setProperty('--bar-h', bar.offsetHeight + 'px');
  new ResizeObserver(setBarHeight).observe(bar);

  // ---------- session, routing ----------

  let session = null;
  let sessionReady = null; // a promise of the session, once the words are loaded

  function applySession(s) {
    session = s;
    const name = (s.project && s.project.name) || 'fieldsync';
    $('project-name').textContent = name;
    document.title = name + ' · fieldsync';
    setupAdd();
    applyPermissions();
    renderSyncBadge(lastSync);
    loadCategories().then(() => { renderFilter(); renderAddCategories(); }).catch((e) => console.warn('categories:', e));
    return s;
  }

  // refreshSession looks again at this device's role (a block or a new
  // role arrived) and says what it may do now.
  async function refreshSession() {
    try {
      const s = await getJSON('/api/session');
      const was = session && session.device;
      session = s;
      const now = s.device || {};
      if (!was || was.canWrite !== now.canWrite || was.canManage !== now.canManage || was.role !== now.role) {
        applyPermissions();
        if (current === 'obs' && obsLast) drawObs(obsLast);
        if (membersLast) renderMembers(membersLast);
      }
    } catch (e) {
      console.warn('session:', e);
    }
  }

  const views = ['map', 'gallery', 'obs', 'sync', 'members', 'add'];
  let current = null;

  function route() {
    const h = location.hash.replace(/^#\/?/, '');
    const parts = h.split('/');
    let view = parts[0] || 'map';
    if (!views.includes(view)) view = 'map';
    current = view;
    for (const v of views) $('view-' + v).hidden = v !== view;
    for (const a of document.querySelectorAll('#tabs a')) {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.body.dataset.view = view;
    if (view === 'map') showMap();
    else if (view === 'gallery') showGallery();
    else if (view === 'obs') showObs(decodeURIComponent(parts.slice(1).join('/')));
    else if (view === 'sync') showSync();
    else if (view === 'members') showMembers();
    else if (view === 'add') showAdd();
  }

  // ---------- world outline (every map) ----------

  let outline = null;
  function worldOutline() {
    if (!outline) {
      outline = getJSON('/static/vendor/world-atlas/countries-110m.json').then((topo) => ({
        land: unwrap(topojson.feature(topo, topo.objects.land)),
        borders: unwrap(topojson.mesh(topo, topo.objects.countries, (a, b) => a !== b)),
      }));
    }
    return outline;
  }

  // unwrap makes each ring or line continuous across the antimeridian (Fiji,
  // Chukotka jump from 180 to -180), so that Leaflet draws no stripe across
  // the world; it changes the GeoJSON coordinates in place.
  function unwrap(geo) {
    const line = (pts) => {
      let off = 0;
      for (let i = 1; i < pts.length; i++) {
        const prev = pts[i - 1][0];
        let lon = pts[i][0] + off;
        while (lon - prev > 180) { lon -= 360; off -= 360; }
        while (lon - prev < -180) { lon += 360; off += 360; }
        pts[i][0] = lon;
      }
    };
    const walk = (c, depth) => { if (depth === 0) line(c); else c.forEach((x) => walk(x, depth - 1)); };
    const depths = { LineString: 0, MultiLineString: 1, Polygon: 1, MultiPolygon: 2 };
    const geom = (g) => { if (g && g.type in depths) walk(g.coordinates, depths[g.type]); };
    if (geo.type === 'FeatureCollection') geo.features.forEach((f) => geom(f.geometry));
    else if (geo.type === 'Feature') geom(geo.geometry);
    else geom(geo);
    return geo;
  }

  // fitZoom is the deepest zoom to fit points at: the world outline says
  // little beyond zoom 7, an offline tile set says more.
  function fitZoom() {
    const bm = session && session.basemap;
    return bm && bm.format !== 'pbf' ? Math.max(7, Math.min(16, bm.maxZoom + 1)) : 7;
  }

  // newMap makes a Leaflet map with the world outline and, when the session
  // has one, the offline tile set over it.
  function newMap(id) {
    const map = L.map(id, { worldCopyJump: true, minZoom: 1, maxZoom: 19 });
    map.attributionControl.addAttribution('Natural Earth');
    map.setView([20, 0], 2);
    worldOutline().then((w) => {
      L.geoJSON(w.land, { interactive: false, style: { color: '#6d8a5c', weight: 0.6, fillColor: '#e8eedc', fillOpacity: 1 } }).addTo(map);
      L.geoJSON(w.borders, { interactive: false, style: { color: '#9aae8c', weight: 0.6, fill: false } }).addTo(map);
    }).catch((e) => console.warn('world outline:', e));
    const bm = session && session.basemap;
    if (bm && bm.format !== 'pbf') {
      // The outline is drawn in the overlay pane; the tiles go in a pane of
      // their own over it (and under the markers): see .leaflet-basemap-pane.
      map.createPane('basemap');
      const opts = { pane: 'basemap', minZoom: bm.minZoom, maxNativeZoom: bm.maxZoom, maxZoom: 19 };
      if (Array.isArray(bm.bounds) && bm.bounds.length === 4) {
        const [w, s, e, n] = bm.bounds;
        opts.bounds = [[s, w], [n, e]];
      }
      L.tileLayer('/tiles/{z}/{x}/{y}', opts).addTo(map);
    }
    return map;
  }

  // ---------- map view ----------

  let map = null;
  let cluster = null;
  const markers = new Map(); // observation id → its marker
  const obsCache = new Map(); // id → Obs, from any listing

  function remember(items) { for (const o of items) obsCache.set(o.id, o); }

  async function showMap() {
    if (map) { map.invalidateSize(); return; }
    await sessionReady.catch(() => null);
    if (map) return;
    map = newMap('map');
    L.control.scale({ position: 'bottomleft' }).addTo(map);
    cluster = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 50 });
    map.addLayer(cluster);
    try {
      await loadCategories().catch(() => null); // the markers' icons
      const m = await getJSON('/api/map?' + filterQuery().slice(1));
      const pts = m.points || [];
      syncMarkers(pts, true);
      syncTracks(m.tracks || []);
      const corners = pts.map((p) => [p[0], p[1]]);
      for (const tr of m.tracks || []) corners.push([tr.bbox[1], tr.bbox[0]], [tr.bbox[3], tr.bbox[2]]);
      if (corners.length) map.fitBounds(L.latLngBounds(corners), { padding: [30, 30], maxZoom: fitZoom() });
      else if (session && session.basemap && session.basemap.bounds) {
        const [w, s, e, n] = session.basemap.bounds;
        map.fitBounds([[s, w], [n, e]]);
      }
    } catch (e) {
      showBanner(t('error.mapPoints', { error: e.message }));
    }
    loadUnplaced(true);
  }

  // The bounds of every placed observation (for the add form's map), once.
  let pointBounds = null;
  function pointsBounds() {
    if (!pointBounds) {
      pointBounds = getJSON('/api/map').then((m) => {
        const pts = m.points || [];
        return pts.length ? L.latLngBounds(pts.map((p) => [p[0], p[1]])) : null;
      }).catch(() => null);
    }
    return pointBounds;
  }

  // syncMarkers makes the cluster group hold one marker per point: new ones
  // added, moved ones moved, and (with all) those no longer listed removed.
  function syncMarkers(points, all) {
    const add = [];
    const seen = new Set();
    for (const [lat, lon, id, cat] of points) {
      seen.add(id);
      let m = markers.get(id);
      if (m) {
        if ((markerCat.get(id) || '') !== (cat || '')) {
          markerCat.set(id, cat || '');
          m.setIcon(markerIcon(cat));
        }
        const ll = m.getLatLng();
        if (ll.lat === lat && ll.lng === lon) continue;
        cluster.removeLayer(m);
        m.setLatLng([lat, lon]);
      } else {
        markerCat.set(id, cat || '');
        m = L.marker([lat, lon], { title: id, icon: markerIcon(cat) });
        // the popup's content is made when it opens (10,000 markers need
        // no 10,000 elements), in the language of the moment
        m.bindPopup('…', { minWidth: 160, maxWidth: 260 });
        m.on('popupopen', () => m.setPopupContent(popupFor(id, m)));
        markers.set(id, m);
      }
      add.push(m);
    }
    if (all) {
      const gone = [];
      for (const [id, m] of markers) {
        if (!seen.has(id)) { gone.push(m); markers.delete(id); markerCat.delete(id); }
      }
      if (gone.length) cluster.removeLayers(gone);
    }
    if (add.length) cluster.addLayers(add);
  }

  function popupFor(id, marker) {
    const box = el('div', { class: 'popup' }, el('p', { class: 'muted' }, t('common.loading')));
    const fill = (o) => {
      const att = mainAttachment(o);
      const refresh = () => marker.getPopup() && marker.getPopup().update();
      box.replaceChildren(
        el('a', { href: '#/obs/' + encodeURIComponent(o.id), class: 'popup-link' },
          att ? varImage(att.thumbnail, 'thumb', 'thumbnail', { onload: refresh }) : el('div', { class: 'placeholder thumb-placeholder' }, t('thumb.none')),
          el('span', { class: 'popup-time' }, fmtTime(o.created))),
        o.category ? el('p', {}, catChip(o.category)) : null,
        o.fields && Object.keys(o.fields).length ? el('p', { class: 'popup-fields' }, truncate(fieldsSummary(o.category, o.fields), 140)) : null,
        o.tags && o.tags.length ? el('p', { class: 'tags' }, o.tags.join(', ')) : null,
        el('a', { href: '#/obs/' + encodeURIComponent(o.id) }, t('map.open')));
      refresh();
    };
    if (obsCache.has(id)) fill(obsCache.get(id));
    else getJSON('/api/observations/' + encodeURIComponent(id))
      .then((r) => { obsCache.set(id, r.observation); fill(r.observation); })
      .catch((e) => box.replaceChildren(el('p', { class: 'error' }, e.message)));
    return box;
  }

  let unplacedNext = '';
  let unplacedLoading = false;
  let unplacedTotal = null;
  async function loadUnplaced(first, force) {
    if (unplacedLoading && !force) return;
    unplacedLoading = true;
    const gen = filterGen;
    try {
      let url = '/api/observations?placed=0&track=0&limit=' + UNPLACED_PAGE + filterQuery();
      if (!first) url += '&cursor=' + encodeURIComponent(unplacedNext);
      const r = await getJSON(url);
      if (gen !== filterGen) return;
      remember(r.items);
      const ul = $('unplaced');
      if (first) { ul.replaceChildren(); unplacedItems.clear(); }
      for (const o of r.items) {
        if (unplacedItems.has(o.id)) continue;
        const li = unplacedItem(o);
        unplacedItems.set(o.id, li);
        ul.append(li);
      }
      unplacedNext = r.next || '';
      $('unplaced-more').hidden = !unplacedNext;
      setUnplacedCount(r.total);
    } catch (e) {
      if (gen === filterGen) $('unplaced').replaceChildren(el('li', { class: 'error' }, e.message));
    } finally {
      if (gen === filterGen) unplacedLoading = false;
    }
  }
  $('unplaced-more').addEventListener('click', () => loadUnplaced(false));

  // With every observation placed, the list's column goes and the map
  // takes the width.
  function setUnplacedCount(n) {
    unplacedTotal = n;
    $('unplaced-count').textContent = '(' + fmtNum(n) + ')';
    $('unplaced-section').hidden = n === 0;
    updatePanel();
  }

  // updatePanel: the column beside the map (tracks, observations without
  // a position) is there when it has something to list.
  function updatePanel() {
    const panel = $('unplaced-panel');
    const empty = $('unplaced-section').hidden && $('tracks-section').hidden;
    if (panel.hidden !== empty) {
      panel.hidden = empty;
      if (map) map.invalidateSize();
    }
  }

  function unplacedItem(o) {
    const label = [o.tags && o.tags.join(', '), truncate(o.notes, 60)].filter(Boolean).join(' · ');
    return el('li', { 'data-id': o.id, 'data-updated': o.updated },
      el('a', { href: '#/obs/' + encodeURIComponent(o.id) },
        el('time', { datetime: o.created }, fmtTime(o.created)), o.category ? [' ', catChip(o.category)] : null, label ? ' ' + label : ''));
  }

  // ---------- field data: categories, their fields, tracks, exports ----------

  // The project's categories (removed ones too: their observations keep
  // them), from /api/categories?all=1, in their order.
  let categories = [];
  const catByID = new Map();
  let categoriesLoading = null;

  function loadCategories(force) {
    if (!categoriesLoading || force) {
      categoriesLoading = getJSON('/api/categories?all=1').then((r) => {
        categories = r.categories || [];
        catByID.clear();
        for (const c of categories) catByID.set(c.id, c);
        return categories;
      }).catch((e) => { categoriesLoading = null; throw e; });
    }
    return categoriesLoading;
  }

  // categoriesChanged: category records arrived (an import, a sync): the
  // pickers, the filter and the markers say them again.
  function categoriesChanged() {
    loadCategories(true).then(() => {
      renderFilter();
      renderAddCategories();
      renderCategoriesView();
      catIcons.clear();
      for (const [id, m] of markers) m.setIcon(markerIcon(markerCat.get(id)));
      // the cards and lists say the categories as they now are
      for (const [id, c] of gallery.cards) {
        const o = obsCache.get(id);
        if (o && o.category) { const n = card(o, EAGER); c.replaceWith(n); gallery.cards.set(id, n); }
      }
      for (const [id, li] of unplacedItems) {
        const o = obsCache.get(id);
        if (o && o.category) { const n = unplacedItem(o); li.replaceWith(n); unplacedItems.set(id, n); }
      }
      if (map) {
        for (const e of trackLayers.values()) if (e.layer) e.layer.setStyle(trackStyle(e.info));
        renderTrackList();
      }
    }).catch((e) => console.warn('categories:', e));
  }

  // The categories offered for an observation, or for a track.
  const categoriesFor = (kind) => categories.filter((c) => !c.removed && (c.applies_to || []).includes(kind));

  // catColor is a category's color, if it is one CSS can take as it is.
  function catColor(c) {
    const col = c && c.color;
    return col && /^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/.test(col) ? col : null;
  }

  // colored gives an element the category's color (CSSOM, which the CSP
  // allows: no style attribute).
  function colored(e, c) {
    const col = catColor(c);
    if (col) e.style.setProperty('--cat-color', col);
    return e;
  }

  // catIconImg: the category's icon (a data: URL of an SVG or PNG, shown
  // as an image, never inline), or a dot of its color.
  function catIconImg(c, cls) {
    if (c && c.icon && c.icon.startsWith('data:image/')) return el('img', { class: cls + ' cat-icon', src: c.icon, alt: '' });
    return colored(el('span', { class: cls + ' cat-dot', 'aria-hidden': 'true' }), c);
  }

  // catChip names an observation's category (ref: {id, name, color}) with
  // its icon; the category as this device knows it first.
  function catChip(ref) {
    if (!ref) return null;
    const c = catByID.get(ref.id) || ref;
    return colored(el('span', { class: 'cat-chip', 'data-category': ref.id },
      catIconImg(c, 'chip-icon'), el('span', {}, c.name || ref.name || ref.id)), c);
  }

  // trackAttachments are an observation's tracks (usually one).
  const trackAttachments = (o) => (o.attachments || []).filter((a) => a.kind === 'track');

  function fmtLength(m) {
    if (typeof m !== 'number') return '–';
    return m >= 1000
      ? t('track.km', { km: (m / 1000).toLocaleString(lang, { maximumFractionDigits: 2 }) })
      : t('track.m', { m: Math.round(m).toLocaleString(lang) });
  }

  // trackSummary: "Morning walk · 0.79 km · 115 points".
  function trackSummary(tr) {
    return [tr.name || t('track.unnamed'), fmtLength(tr.length_m), t('track.points', { n: fmtNum(tr.points) })].join(' · ');
  }

  // ---------- the categories in the members view, and their import ----------

  function appliesWord(c) {
    const a = c.applies_to || [];
    if (a.includes('observation') && a.includes('track')) return t('cats.forBoth');
    return a.includes('track') ? t('cats.forTracks') : t('cats.forObservations');
  }

  // renderCategoriesView lists the categories with their fields, and
  // offers the import to the creator and coordinators (as the command
  // does); other devices get a line that says who may.
  function renderCategoriesView() {
    const list = categories.filter((c) => !c.removed);
    $('cats-list').replaceChildren(...list.map((c) => el('li', { 'data-category': c.id },
      catChip(c), ' ', el('span', { class: 'muted' }, appliesWord(c)),
      (c.fields || []).length ? el('span', { class: 'cat-fields' }, ' · ' + c.fields.map((f) => f.label || f.key).join(', ')) : null)));
    $('cats-none').hidden = list.length > 0;
    const d = (session && session.device) || {};
    $('cats-form').hidden = !d.canManage;
    const note = $('cats-note');
    note.hidden = !!d.canManage;
    note.textContent = d.canManage ? '' : (d.role === 'creator' || d.role === 'coordinator') && d.readOnly ? d.readOnly : t('cats.cannot', { role: roleWord(d.role) });
  }

  function setupCategoryImport() {
    const form = $('cats-form');
    const status = $('cats-status');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      const f = fd.get('file');
      if (!f || !f.size) {
        status.className = 'error';
        status.textContent = t('cats.chooseFile');
        return;
      }
      if (!fd.get('lang')) fd.delete('lang');
      $('cats-fieldset').disabled = true;
      status.className = 'muted';
      status.textContent = t('cats.importing');
      $('cats-warnings').replaceChildren();
      try {
        const res = await fetch('/api/categories', { method: 'POST', body: fd, headers: { Accept: 'application/json', 'X-CSRF-Token': session.csrf } });
        let j = null;
        try { j = await res.json(); } catch (_) { /* not JSON */ }
        if (!res.ok) throw new HTTPError(res.status, (j && j.error) || res.status + ' ' + res.statusText);
        const r = j.import || {};
        status.className = 'ok';
        status.textContent = t('cats.done', {
          set: r.set || r.path || '', added: (r.added || []).length, changed: (r.changed || []).length,
          removed: (r.removed || []).length, unchanged: (r.unchanged || []).length,
        });
        $('cats-warnings').replaceChildren(...(r.warnings || []).map((w) => el('li', {}, w)));
        form.reset();
        categoriesChanged();
      } catch (e) {
        status.className = 'error';
        status.textContent = failed(t('cats.failed'), e);
      } finally {
        $('cats-fieldset').disabled = false;
      }
    });
  }
  setupCategoryImport();

  // ---------- the category filter and the export buttons ----------

  let catFilter = ''; // '' all, '-' without a category, else a category's ID

  const filterQuery = () => (catFilter ? '&category=' + encodeURIComponent(catFilter) : '');

  // passes: an observation shown under the filter.
  function passes(o) {
    if (!catFilter) return true;
    const id = o.category ? o.category.id : '';
    return catFilter === '-' ? id === '' : id === catFilter;
  }

  function renderFilter() {
    const sel = $('category-filter');
    const opts = [el('option', { value: '' }, t('filter.all')), el('option', { value: '-' }, t('filter.none'))];
    for (const c of categories) {
      opts.push(el('option', { value: c.id }, c.removed ? t('filter.removed', { name: c.name }) : c.name));
    }
    if (catFilter && catFilter !== '-' && !catByID.has(catFilter)) catFilter = '';
    sel.replaceChildren(...opts);
    sel.value = catFilter;
    $('filter-bar').dataset.categories = categories.length ? 'yes' : 'no';
    const c = catByID.get(catFilter);
    $('filter-icon').replaceChildren(c ? catIconImg(c, 'filter-icon') : '');
    setExportLinks();
  }

  // The export links take the filter: a category's observations alone.
  function setExportLinks() {
    for (const f of ['geojson', 'csv', 'gpx']) {
      const a = $('export-' + f);
      a.href = '/api/export/' + f + (catFilter && catFilter !== '-' ? '?category=' + encodeURIComponent(catFilter) : '');
    }
  }

  // setFilter shows the map, the lists and the gallery again under
  // another filter.
  let filterGen = 0;
  function setFilter(v) {
    if (v === catFilter) return;
    catFilter = v;
    filterGen++;
    renderFilter();
    if (gallery.started) {
      gallery.cards.clear();
      gallery.next = '';
      gallery.loading = false;
      $('gallery').replaceChildren();
      loadGalleryPage();
    }
    if (map) {
      getJSON('/api/map?' + filterQuery().slice(1)).then((m) => {
        syncMarkers(m.points || [], true);
        syncTracks(m.tracks || []);
      }).catch((e) => showBanner(t('error.mapPoints', { error: e.message })));
      unplacedNext = '';
      loadUnplaced(true, true);
    }
  }
  $('category-filter').addEventListener('change', (e) => setFilter(e.target.value));

  // ---------- markers in their category's color and icon ----------

  const markerCat = new Map(); // observation id → its category's ID ('' none)
  const catIcons = new Map();  // category ID → its marker icon
  const defaultIcon = new L.Icon.Default();

  // CatIcon draws a pin of the category's color with its icon, made anew
  // for each marker that shows it (an element cannot be in two places).
  const CatIcon = L.Icon.extend({
    options: { iconSize: [30, 30], iconAnchor: [15, 15], popupAnchor: [0, -14], className: 'cat-marker' },
    createIcon(old) {
      const div = old && old.tagName === 'DIV' ? old : document.createElement('div');
      const c = this.options.category;
      div.replaceChildren(catIconImg(c, 'marker-icon'));
      div.dataset.category = c.id;
      div.title = c.name;
      colored(div, c);
      this._setIconStyles(div, 'icon');
      return div;
    },
    createShadow() { return null; },
  });

  // markerIcon is the icon of a marker of category id: the default pin
  // without one, or when this device does not know the category.
  function markerIcon(id) {
    const c = id && catByID.get(id);
    if (!c) return defaultIcon;
    if (!catIcons.has(id)) catIcons.set(id, new CatIcon({ category: c }));
    return catIcons.get(id);
  }

  // ---------- tracks on the map, and their list ----------

  let trackGroup = null;          // the lines, over the outline and tiles
  const trackLayers = new Map();  // observation id → {info, layer, li}
  let trackDrawn = 0;             // lines on the map (for the tests)

  function trackStyle(info) {
    const c = catByID.get(info.category);
    return { color: catColor(c) || '#c2410c', weight: 4, opacity: 0.85 };
  }

  // syncTracks makes the map hold the lines of tracks (from /api/map):
  // new ones fetched and drawn, changed ones drawn again, gone ones taken
  // off; and lists them beside the map.
  function syncTracks(tracks) {
    if (!map) return;
    if (!trackGroup) {
      map.createPane('tracks');
      trackGroup = L.layerGroup([], { pane: 'tracks' }).addTo(map);
    }
    const seen = new Set();
    for (const info of tracks) {
      seen.add(info.id);
      const had = trackLayers.get(info.id);
      if (had && had.info.category === info.category && had.info.points === info.points && had.layer) continue;
      if (had && had.layer) { trackGroup.removeLayer(had.layer); trackDrawn--; }
      const entry = { info, layer: null };
      trackLayers.set(info.id, entry);
      getJSON('/api/observations/' + encodeURIComponent(info.id) + '/track').then((f) => {
        if (trackLayers.get(info.id) !== entry || !f.geometry) return;
        entry.layer = L.geoJSON(f, { pane: 'tracks', style: () => trackStyle(info) });
        entry.layer.bindPopup(() => trackPopup(info), { minWidth: 160, maxWidth: 280 });
        trackGroup.addLayer(entry.layer);
        trackDrawn++;
      }).catch((e) => { entry.error = e.message; renderTrackList(); });
    }
    for (const [id, entry] of trackLayers) {
      if (seen.has(id)) continue;
      if (entry.layer) { trackGroup.removeLayer(entry.layer); trackDrawn--; }
      trackLayers.delete(id);
    }
    renderTrackList();
  }

  function trackPopup(info) {
    return el('div', { class: 'popup track-popup' },
      catChip(info.category ? { id: info.category } : null),
      el('p', { class: 'popup-time' }, info.name || t('track.unnamed')),
      el('p', {}, fmtLength(info.length_m), ' · ', t('track.points', { n: fmtNum(info.points) })),
      info.start ? el('p', { class: 'muted' }, fmtTime(info.start)) : null,
      el('a', { href: '#/obs/' + encodeURIComponent(info.id) }, t('map.open')));
  }

  function renderTrackList() {
    const list = [...trackLayers.values()].map((e) => e.info);
    list.sort((a, b) => (b.start || b.created || '').localeCompare(a.start || a.created || ''));
    $('tracks-count').textContent = '(' + fmtNum(list.length) + ')';
    $('tracks-section').hidden = list.length === 0;
    $('tracks').replaceChildren(...list.map((info) => {
      const entry = trackLayers.get(info.id);
      const show = el('button', { type: 'button', class: 'link track-show', title: t('track.show') }, info.name || t('track.unnamed'));
      show.addEventListener('click', () => {
        const [w, s, e, n] = info.bbox;
        map.fitBounds([[s, w], [n, e]], { padding: [30, 30], maxZoom: 17 });
        if (entry && entry.layer) entry.layer.openPopup();
      });
      return el('li', { 'data-id': info.id },
        catChip(info.category ? { id: info.category } : null), show,
        el('span', { class: 'muted' }, ' ' + fmtLength(info.length_m) + (info.start ? ' · ' + fmtTime(info.start) : '')),
        entry && entry.error ? el('span', { class: 'muted track-absent' }, ' · ' + t('track.notHere')) : null,
        ' ', el('a', { href: '#/obs/' + encodeURIComponent(info.id) }, t('track.open')));
    }));
    updatePanel();
  }

  // ---------- a category's fields, as form controls ----------

  // fieldControl makes the control of one field: text, number, select one
  // (a menu), select many (checkboxes), date; its value from value (as the
  // observation holds it). The form names it prefix + key.
  function fieldControl(f, value, prefix) {
    const name = prefix + f.key;
    const id = 'f-' + prefix.replace(/\W/g, '') + '-' + f.key.replace(/[^\w-]/g, '_');
    const help = f.help ? el('span', { class: 'field-help muted', id: id + '-help' }, f.help) : null;
    const described = help ? id + '-help' : null;
    let input;
    switch (f.type) {
      case 'number':
        input = el('input', { type: 'number', step: 'any', name, id, inputmode: 'decimal', placeholder: f.placeholder || null, 'aria-describedby': described });
        if (typeof value === 'number') input.value = String(value);
        break;
      case 'date':
        input = el('input', { type: 'date', name, id, 'aria-describedby': described });
        if (typeof value === 'string') input.value = value;
        break;
      case 'select_one': {
        input = el('select', { name, id, 'aria-describedby': described },
          el('option', { value: '' }, t('field.choose')),
          (f.options || []).map((o) => el('option', { value: o.value }, o.label || o.value)));
        if (typeof value === 'string') {
          if (!(f.options || []).some((o) => o.value === value)) input.append(el('option', { value }, value));
          input.value = value;
        }
        break;
      }
      case 'select_many': {
        const vals = Array.isArray(value) ? value : [];
        const boxes = (f.options || []).map((o) => el('label', { class: 'option' },
          el('input', { type: 'checkbox', name, value: o.value, checked: vals.includes(o.value) }), ' ', o.label || o.value));
        for (const v of vals) {
          if (!(f.options || []).some((o) => o.value === v)) boxes.push(el('label', { class: 'option' }, el('input', { type: 'checkbox', name, value: v, checked: true }), ' ', v));
        }
        return el('fieldset', { class: 'field field-select_many', 'data-key': f.key, 'data-type': f.type, 'aria-describedby': described },
          el('legend', {}, f.label || f.key), el('div', { class: 'options' }, boxes), help);
      }
      default:
        input = el('input', { type: 'text', name, id, autocomplete: 'off', placeholder: f.placeholder || null, 'aria-describedby': described });
        if (value !== undefined && value !== null) input.value = String(value);
    }
    return el('div', { class: 'field field-' + f.type, 'data-key': f.key, 'data-type': f.type },
      el('label', { for: id }, f.label || f.key), input, help);
  }

  // fieldsForm is the controls of category c's fields.
  function fieldsForm(c, values, prefix) {
    if (!c || !(c.fields || []).length) return [];
    return [el('p', { class: 'fields-title' }, t('fields.title', { category: c.name })), ...c.fields.map((f) => fieldControl(f, (values || {})[f.key], prefix))];
  }

  // fieldValue reads a field's control in box: a string ('' unanswered)
  // or, for select many, an array of the options checked.
  function fieldValue(box, f, prefix) {
    const ctl = box.querySelector('.field[data-key="' + CSS.escape(f.key) + '"]');
    if (!ctl) return f.type === 'select_many' ? [] : '';
    if (f.type === 'select_many') return [...ctl.querySelectorAll('input[type=checkbox]')].filter((x) => x.checked).map((x) => x.value);
    const input = ctl.querySelector('[name="' + CSS.escape(prefix + f.key) + '"]');
    return input ? input.value.trim() : '';
  }

  // formValue is a field's value in an edit: a number as typed (the
  // server reads it), a select many's options, else the text.
  function formValue(box, f) { return fieldValue(box, f, ''); }

  const isEmpty = (v) => v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length);

  // sameValue: the form's value v says what the observation holds (old).
  function sameValue(v, old) {
    if (isEmpty(v) || isEmpty(old)) return isEmpty(v) && isEmpty(old);
    if (Array.isArray(v)) return Array.isArray(old) && [...v].sort().join('\n') === [...old].sort().join('\n');
    if (typeof old === 'number') return Number(v) === old;
    return String(old) === v;
  }

  // markInvalid points at the field a refusal names, if it is in box,
  // and says the refusal's words under it too.
  function markInvalid(box, key, why) {
    for (const e of box.querySelectorAll('.field.invalid')) e.classList.remove('invalid');
    for (const e of box.querySelectorAll('.field-error')) e.remove();
    for (const e of box.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    if (!key) return;
    const ctl = box.querySelector('.field[data-key="' + CSS.escape(key) + '"]');
    if (!ctl) return;
    ctl.classList.add('invalid');
    if (why) ctl.append(el('p', { class: 'field-error error', role: 'alert' }, why));
    const input = ctl.querySelector('input, select');
    if (input) input.setAttribute('aria-invalid', 'true');
  }

  // fmtFieldValue says a field's value as people read it: an option by
  // its label, a number and a date in the page's language.
  function fmtFieldValue(f, v) {
    if (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length)) return '–';
    const label = (x) => {
      const o = f && (f.options || []).find((opt) => opt.value === x);
      return o ? o.label || o.value : x;
    };
    if (Array.isArray(v)) return v.map(label).join(', ');
    if (typeof v === 'number') return v.toLocaleString(lang, { maximumFractionDigits: 10 });
    if (f && f.type === 'date' && /^\d{4}-\d{2}-\d{2}$/.test(v)) {
      const d = new Date(v + 'T00:00:00Z');
      if (!isNaN(d)) return d.toLocaleDateString(lang, { dateStyle: 'medium', timeZone: 'UTC' });
    }
    if (f && f.type && f.type.startsWith('select')) return label(v);
    return String(v);
  }

  // fieldRows are the observation's category and its fields, for a <dl>:
  // every field of the category, '–' when not answered, then any value of
  // a field the category no longer has, by its key.
  function fieldRows(o) {
    const rows = [el('dt', {}, t('obs.category')), el('dd', { class: 'category' }, o.category ? catChip(o.category) : '–')];
    const c = o.category && catByID.get(o.category.id);
    const vals = o.fields || {};
    const shown = new Set();
    for (const f of (c && c.fields) || []) {
      shown.add(f.key);
      rows.push(el('dt', { class: 'field-label' }, f.label || f.key),
        el('dd', { class: 'field-value', 'data-key': f.key }, fmtFieldValue(f, vals[f.key])));
    }
    for (const [k, v] of Object.entries(vals)) {
      if (!shown.has(k)) rows.push(el('dt', { class: 'field-label' }, k), el('dd', { class: 'field-value', 'data-key': k }, fmtFieldValue(null, v)));
    }
    return rows;
  }

  // fieldsSummary: "Depth (m): 1.5; Crossing type: Ford", for a card or
  // the history.
  function fieldsSummary(categoryRef, vals) {
    const c = categoryRef && catByID.get(categoryRef.id);
    vals = vals || {};
    const parts = [];
    // in the category's order, then any the category no longer has
    for (const f of (c && c.fields) || []) {
      if (f.key in vals) parts.push((f.label || f.key) + ': ' + fmtFieldValue(f, vals[f.key]));
    }
    for (const [k, v] of Object.entries(vals)) {
      if (!c || !(c.fields || []).some((f) => f.key === k)) parts.push(k + ': ' + fmtFieldValue(null, v));
    }
    return parts.join('; ');
  }

  // ---------- the add form's category picker and fields ----------

  // renderAddCategories draws the picker: no category, or one of those
  // for observations, each with its icon and name; the fields of the one
  // picked below it.
  function renderAddCategories() {
    const box = $('add-category');
    if (!box) return;
    const list = categoriesFor('observation');
    const picked = ($('add-form').elements.category && $('add-form').elements.category.value) || '';
    box.hidden = list.length === 0;
    const choice = (c) => {
      const input = el('input', { type: 'radio', name: 'category', value: c ? c.id : '', checked: (c ? c.id : '') === picked });
      const tile = el('label', { class: 'cat-choice', 'data-category': c ? c.id : '' }, input,
        c ? catIconImg(c, 'choice-icon') : el('span', { class: 'choice-icon cat-none', 'aria-hidden': 'true' }, '∅'),
        el('span', { class: 'choice-name' }, c ? c.name : t('add.noCategory')));
      return c ? colored(tile, c) : tile;
    };
    box.replaceChildren(el('legend', {}, t('add.category')), el('div', { class: 'cat-choices', role: 'radiogroup' }, choice(null), list.map(choice)));
    if (!box.querySelector('input:checked')) box.querySelector('input').checked = true;
    renderAddFields();
  }

  function renderAddFields() {
    const form = $('add-form');
    const id = form.elements.category ? form.elements.category.value : '';
    const c = catByID.get(id);
    const box = $('add-fields');
    if (box.dataset.category === (id || '') && box.childElementCount) return;
    box.dataset.category = id || '';
    box.replaceChildren(...fieldsForm(c, {}, 'field.'));
    box.hidden = !c || !(c.fields || []).length;
  }



  // ---------- gallery ----------

  const gallery = { started: false, next: '', loading: false, cards: new Map(), total: 0 }; // cards: id → .card
  let galleryObserver = null;
  window.fieldsync = {
    markerCount: () => (cluster ? cluster.getLayers().length : 0),
    trackCount: () => trackDrawn,
    galleryCount: () => document.querySelectorAll('#gallery .card').length,
    firstGalleryPaint: null,
    lang: () => lang,
  };

  function card(o, i) {
    const att = mainAttachment(o);
    const href = '#/obs/' + encodeURIComponent(o.id);
    let media;
    const tracks = trackAttachments(o);
    if (tracks.length && (!att || !att.thumbnail)) {
      const tr = tracks[0].track || {};
      media = el('div', { class: 'placeholder thumb-placeholder track-placeholder', 'data-state': 'track' },
        el('span', {}, t('track.card', { name: tr.name || t('track.unnamed'), length: fmtLength(tr.length_m) })));
    } else if (!att && o.category) {
      const cc = catByID.get(o.category.id) || o.category;
      media = colored(el('div', { class: 'placeholder thumb-placeholder cat-placeholder', 'data-state': 'category' }, catIconImg(cc, 'big-icon')), cc);
    } else if (!att || !att.thumbnail) media = el('div', { class: 'placeholder thumb-placeholder', 'data-state': 'none' }, el('span', {}, t('thumb.none')));
    else media = varImage(att.thumbnail, 'thumb', 'thumbnail', { lazy: i >= EAGER, alt: att.name || '' });
    const n = (o.attachments || []).length;
    const c = o.category ? catByID.get(o.category.id) || o.category : null;
    const fields = o.fields && Object.keys(o.fields).length ? fieldsSummary(o.category, o.fields) : '';
    return colored(el('a', { class: 'card' + (o.deleted ? ' deleted' : '') + (c ? ' has-category' : ''), href, 'data-id': o.id, 'data-updated': o.updated, 'data-category': c ? o.category.id : null },
      el('div', { class: 'media' }, media, n > 1 ? el('span', { class: 'count-badge' }, String(n)) : null),
      el('div', { class: 'meta' },
        el('time', { datetime: o.created }, fmtTime(o.created)),
        c ? el('div', { class: 'card-category' }, catChip(o.category)) : null,
        fields ? el('p', { class: 'card-fields' }, truncate(fields, 100)) : null,
        o.tags && o.tags.length ? el('ul', { class: 'tags' }, o.tags.map((x) => el('li', {}, x))) : null,
        o.notes ? el('p', { class: 'notes' }, truncate(o.notes, 120)) : null,
        o.heads > 1 ? el('p', { class: 'fork-mark' }, t('gallery.fork')) : null,
        o.deleted ? el('p', { class: 'error' }, t('gallery.deleted')) : null)), c);
  }

  function showGallery() {
    if (gallery.started) { checkSentinel(); return; }
    gallery.started = true;
    galleryObserver = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadGalleryPage();
    }, { rootMargin: '800px 0px' });
    galleryObserver.observe($('gallery-sentinel'));
    loadGalleryPage();
  }

  function checkSentinel() {
    if (current !== 'gallery' || !gallery.next || gallery.loading) return;
    const r = $('gallery-sentinel').getBoundingClientRect();
    if (r.top < window.innerHeight + 800) loadGalleryPage();
  }

  function setGalleryStatus() {
    $('gallery-status').textContent = gallery.next ? '' : (gallery.cards.size ? t('gallery.end') : t('gallery.empty'));
  }

  async function loadGalleryPage() {
    const first = gallery.cards.size === 0 && !gallery.next;
    if (gallery.loading || (!first && !gallery.next)) return;
    gallery.loading = true;
    const gen = filterGen;
    $('gallery-status').textContent = t('common.loading');
    try {
      let url = '/api/observations?limit=' + PAGE + filterQuery();
      if (!first) url += '&cursor=' + encodeURIComponent(gallery.next);
      const cats = loadCategories().catch(() => null); // the cards' icons, meanwhile
      const r = await getJSON(url);
      await cats;
      if (gen !== filterGen) return;
      remember(r.items);
      const frag = document.createDocumentFragment();
      const start = gallery.cards.size;
      r.items.forEach((o, i) => {
        if (gallery.cards.has(o.id)) return;
        const c = card(o, start + i);
        gallery.cards.set(o.id, c);
        frag.append(c);
      });
      $('gallery').append(frag);
      gallery.next = r.next || '';
      setTotal(r.total);
      setGalleryStatus();
      if (first) markFirstPaint();
    } catch (e) {
      if (gen === filterGen) $('gallery-status').textContent = t('error.load', { error: e.message });
    } finally {
      if (gen === filterGen) gallery.loading = false;
    }
    requestAnimationFrame(checkSentinel);
  }

  function setTotal(n) {
    gallery.total = n;
    $('gallery-total').textContent = n === 1 ? t('gallery.totalOne') : t('gallery.total', { n: fmtNum(n) });
    if (catFilter) $('gallery-total').append(' ', el('span', { class: 'filtered' }, t('gallery.filtered')));
  }

  // firstGalleryPaint: when the first page's cards are in the DOM and their
  // eagerly loaded thumbnails have loaded or failed.
  function markFirstPaint() {
    const imgs = Array.from(document.querySelectorAll('#gallery img.thumb')).filter((i) => i.loading !== 'lazy');
    const pending = imgs.filter((i) => !i.complete);
    const done = () => {
      if (window.fieldsync.firstGalleryPaint === null) window.fieldsync.firstGalleryPaint = performance.now();
    };
    if (!pending.length) { requestAnimationFrame(done); return; }
    let left = pending.length;
    const one = () => { if (--left === 0) requestAnimationFrame(done); };
    for (const i of pending) {
      i.addEventListener('load', one, { once: true });
      i.addEventListener('error', one, { once: true });
    }
  }

  // forget takes an observation that is gone (deleted) off the gallery,
  // the map and the list of unplaced ones at once.
  function forget(id) {
    const c = gallery.cards.get(id);
    if (c) { c.remove(); gallery.cards.delete(id); setTotal(Math.max(0, gallery.total - 1)); }
    const m = markers.get(id);
    if (m) { cluster.removeLayer(m); markers.delete(id); markerCat.delete(id); }
    const tr = trackLayers.get(id);
    if (tr) { if (tr.layer) { trackGroup.removeLayer(tr.layer); trackDrawn--; } trackLayers.delete(id); renderTrackList(); }
    const li = unplacedItems.get(id);
    if (li) { li.remove(); unplacedItems.delete(id); if (unplacedTotal) setUnplacedCount(unplacedTotal - 1); }
  }

  // ---------- live: new observations ----------

  // An "observations" event says records arrived (a sync, an upload, an
  // edit): the gallery, the map and the unplaced list look again, at most
  // once a second.
  let refreshTimer = null;
  let refreshing = false;
  let lastRefresh = 0;
  function observationsChanged() {
    if (refreshTimer) return;
    const wait = Math.max(300, lastRefresh + 1000 - Date.now());
    refreshTimer = setTimeout(() => { refreshTimer = null; refreshAll(); }, wait);
  }

  // The observations that "observations" events named since the last
  // refresh (changedAll: an event said "all", or one was missed): the
  // page asks for those alone instead of every position again.
  let changedIDs = new Set();
  let changedAll = false;

  async function refreshAll() {
    if (refreshing) { observationsChanged(); return; }
    refreshing = true;
    lastRefresh = Date.now();
    const ids = [...changedIDs];
    const all = changedAll || ids.length > 400;
    changedIDs = new Set();
    changedAll = false;
    try {
      // got: the changed observations as they stand; one missing is gone
      let got = null;
      if (!all && ids.length && (gallery.started || map)) {
        const r = await getJSON('/api/observations?ids=' + ids.map(encodeURIComponent).join(','));
        remember(r.items);
        // one that no longer passes the filter leaves the lists as if gone
        got = new Map(r.items.filter(passes).map((o) => [o.id, o]));
      }
      const jobs = [];
      if (gallery.started) jobs.push(refreshGallery(all ? null : ids, got));
      if (map) jobs.push(refreshMap(all, ids, got), refreshUnplaced(all ? null : ids, got));
      if (current === 'obs' && obsShown) jobs.push(refreshObs());
      if (!jobs.length) jobs.push(getJSON('/api/observations?limit=' + PAGE).then((r) => noticeBlobs(r.items)));
      await Promise.all(jobs);
      // those that got a position leave the unplaced list
      for (const [id, li] of unplacedItems) {
        if (markers.has(id)) { li.remove(); unplacedItems.delete(id); }
      }
    } catch (e) {
      console.warn('refresh:', e);
    } finally {
      refreshing = false;
    }
  }

  // noticeBlobs: blobs that completed without our hearing of it (a missed
  // "blob" event) replace their placeholders.
  function noticeBlobs(items) {
    remember(items);
    for (const o of items) {
      for (const a of o.attachments || []) {
        for (const v of [a.thumbnail, a.preview, a.original]) {
          if (v && v.state === 'present' && waiting.has(v.cid)) blobArrived(v.cid);
        }
      }
    }
  }

  // The newest items again, as many as are shown (up to the server's page
  // limit of 500), so that one synced with an older date lands in place.
  function reloadURL(base, shown, page) {
    return base + 'limit=' + Math.min(500, Math.max(page, shown));
  }

  // merge puts items (the server's order) into a list whose children
  // carry data-id: a new item goes right after the one before it; a
  // changed one is replaced; with more (the list is paged and not all
  // here), items past the last one shown wait for their page.
  function merge(container, index, items, make, more) {
    const last = container.lastElementChild;
    const lastID = more && last ? last.dataset.id : null;
    let prev = null;
    let added = 0;
    for (const o of items) {
      const old = index.get(o.id);
      if (old) {
        if (old.dataset.updated !== o.updated) {
          const c = make(o);
          old.replaceWith(c);
          index.set(o.id, c);
          prev = c;
        } else {
          prev = old;
        }
        if (o.id === lastID) break;
        continue;
      }
      const c = make(o);
      index.set(o.id, c);
      if (prev) prev.after(c);
      else container.prepend(c);
      prev = c;
      added++;
    }
    return added;
  }

  // prune removes from a list the items that are gone: those of ids the
  // server no longer lists (deleted), or, when the whole list came back
  // (complete), every item not in it.
  function prune(index, ids, got, items, complete) {
    const keep = ids ? null : new Set(items.map((o) => o.id));
    for (const [id, e] of index) {
      if (ids ? ids.includes(id) && !got.has(id) : complete && !keep.has(id)) {
        e.remove();
        index.delete(id);
      }
    }
  }

  async function refreshGallery(ids, got) {
    const r = await getJSON(reloadURL('/api/observations?' + filterQuery().slice(1) + '&', gallery.cards.size, PAGE));
    noticeBlobs(r.items);
    merge($('gallery'), gallery.cards, r.items, (o) => card(o, 0), !!gallery.next);
    prune(gallery.cards, ids, got, r.items, !r.next);
    setTotal(r.total);
    if (gallery.cards.size) setGalleryStatus();
  }

  async function refreshMap(all, ids, got) {
    // a track among those that changed: the list of tracks again
    const tracksChanged = !all && ids.some((id) => trackLayers.has(id) || (got.get(id) && trackAttachments(got.get(id)).length));
    if (all || tracksChanged) {
      const m = await getJSON('/api/map?' + filterQuery().slice(1));
      syncMarkers(m.points || [], true);
      syncTracks(m.tracks || []);
      return;
    }
    if (!ids.length) return;
    const points = [];
    const gone = [];
    for (const id of ids) {
      const o = got.get(id);
      if (o && o.position) points.push([o.position.lat, o.position.lon, id, o.category ? o.category.id : '']);
      else if (markers.has(id)) { gone.push(markers.get(id)); markers.delete(id); markerCat.delete(id); }
    }
    if (gone.length) cluster.removeLayers(gone);
    syncMarkers(points, false);
  }

  const unplacedItems = new Map(); // id → li
  async function refreshUnplaced(ids, got) {
    const r = await getJSON(reloadURL('/api/observations?placed=0&track=0' + filterQuery() + '&', unplacedItems.size, UNPLACED_PAGE));
    noticeBlobs(r.items);
    merge($('unplaced'), unplacedItems, r.items, unplacedItem, !!unplacedNext);
    prune(unplacedItems, ids, got, r.items, !r.next);
    setUnplacedCount(r.total);
  }

  // ---------- members (names for authors, and the members view) ----------

  let membersLast = null;     // the last list drawn or fetched
  let membersLoading = null;  // a promise of the list
  let membersPending = false; // a newer list waits for a confirm step to close

  function loadMembers() {
    if (!membersLoading) {
      membersLoading = getJSON('/api/members').then((r) => {
        membersLast = r.members || [];
        return membersLast;
      }).catch((e) => { membersLoading = null; throw e; });
    }
    return membersLoading;
  }

  // memberLabel: a device's name, else a short form of its peer ID.
  function memberLabel(id) {
    const m = membersLast && membersLast.find((x) => x.peer === id);
    return m && m.name ? m.name : shortID(id);
  }

  // membersChanged: a role changed or a device joined; the list, this
  // device's own role and the names shown are fetched again.
  function membersChanged() {
    membersLoading = null;
    refreshSession();
    loadMembers().then((ms) => {
      if (current === 'members') renderMembers(ms);
    }).catch((e) => console.warn('members:', e));
  }

  async function showMembers() {
    await sessionReady.catch(() => null);
    if (current !== 'members') return;
    loadCategories().then(renderCategoriesView).catch((e) => console.warn('categories:', e));
    if (membersLast) renderMembers(membersLast);
    membersLoading = null;
    try {
      const ms = await loadMembers();
      if (current === 'members') renderMembers(ms);
    } catch (e) {
      $('members-status').className = 'error';
      $('members-status').textContent = t('error.load', { error: e.message });
    }
  }

  function renderMembers(ms) {
    membersLast = ms;
    // not under a confirm step: the list is drawn again when it closes
    if (document.querySelector('#members-body .confirm')) { membersPending = true; return; }
    membersPending = false;
    const dev = (session && session.device) || {};
    const note = $('members-note');
    if (!dev.canManage) {
      note.hidden = false;
      note.textContent = dev.role === 'creator' || dev.role === 'coordinator'
        ? t('members.readOnly', { reason: dev.readOnly || '' })
        : t('members.cannotManage', { role: roleWord(dev.role) });
    } else {
      note.hidden = true;
    }
    $('members-body').replaceChildren(...ms.map((m) => memberRow(m, dev.canManage)));
    renderCategoriesView();
  }

  function memberRow(m, canManage) {
    const label = m.name || shortID(m.peer);
    let invite = '–';
    if (m.role === 'creator') invite = t('members.createdProject');
    else if (m.invite) invite = m.invited_by ? t('members.inviteBy', { invite: m.invite, by: memberLabel(m.invited_by) }) : m.invite;
    let seen = t('members.never');
    if (m.self) seen = t('members.now');
    else if (m.last_seen) seen = fmtTime(m.last_seen);
    const actions = el('td', { class: 'actions' });
    if (canManage && !m.self && m.role !== 'creator') {
      if (m.role === 'blocked') {
        actions.append(el('button', { type: 'button', class: 'unblock', onclick: (ev) => setRole(m, 'member', ev.target) }, t('members.unblock')));
      } else {
        const b = el('button', { type: 'button', class: 'danger block' }, t('members.block'));
        b.addEventListener('click', () => askFirst(b, t('members.blockConfirm', { name: label }), t('members.blockYes'), () => setRole(m, 'blocked', b),
          () => { if (membersPending && membersLast) renderMembers(membersLast); }));
        actions.append(b);
      }
    }
    return el('tr', { class: 'member' + (m.self ? ' self' : '') + ' role-' + (m.role || 'none'), 'data-peer': m.peer },
      el('td', { class: 'name' }, label, m.self ? el('span', { class: 'badge self-badge' }, t('members.thisDevice')) : null),
      el('td', { class: 'mono peer', title: m.peer, 'data-label': t('members.col.peer') }, m.peer),
      el('td', { class: 'role', 'data-label': t('members.col.role') }, roleWord(m.role)),
      el('td', { class: 'seen', 'data-label': t('members.col.lastSeen') }, seen),
      el('td', { class: 'invite', 'data-label': t('members.col.invite') }, invite),
      actions);
  }

  async function setRole(m, role, button) {
    const st = $('members-status');
    st.className = 'muted';
    st.textContent = t('common.saving');
    if (button) button.disabled = true;
    try {
      const url = '/api/members/' + encodeURIComponent(m.peer) + (role === 'blocked' ? '/block' : '/role');
      const r = await send('POST', url, role === 'blocked' ? undefined : { role });
      membersLoading = null;
      for (const c of document.querySelectorAll('#members-body .confirm')) c.remove();
      renderMembers(r.members || []);
      st.className = 'ok';
      st.textContent = role === 'blocked' ? t('members.blocked', { name: m.name || shortID(m.peer) }) : t('members.unblocked', { name: m.name || shortID(m.peer) });
    } catch (e) {
      st.className = 'error';
      st.textContent = failed(t('members.failed'), e);
      if (button) button.disabled = false;
      if (membersLast) renderMembers(membersLast);
    }
  }

  // askFirst puts a confirm step in place of a button: what will happen,
  // and a button to do it or to cancel; closed is called when it closes.
  function askFirst(trigger, text, yes, action, closed) {
    const ok = el('button', { type: 'button', class: 'danger confirm-yes' }, yes);
    const no = el('button', { type: 'button', class: 'confirm-no' }, t('common.cancel'));
    const box = el('div', { class: 'confirm', role: 'alertdialog' }, el('p', {}, text), el('div', { class: 'buttons' }, ok, no));
    ok.addEventListener('click', async () => {
      ok.disabled = true;
      no.disabled = true;
      try { await action(); } finally { box.remove(); trigger.hidden = false; if (closed) closed(); }
    });
    no.addEventListener('click', () => { box.remove(); trigger.hidden = false; trigger.focus(); if (closed) closed(); });
    trigger.hidden = true;
    trigger.after(box);
    ok.focus();
  }

  // ---------- observation page ----------

  let obsShown = null;
  async function showObs(id) {
    obsShown = id;
    const box = $('obs');
    box.replaceChildren(el('p', { class: 'muted' }, t('common.loading')));
    window.scrollTo(0, 0);
    let r;
    try {
      loadMembers().catch(() => null); // names for the authors
      const cats = loadCategories().catch(() => null); // the fields' labels
      r = await getJSON('/api/observations/' + encodeURIComponent(id));
      await cats;
    } catch (e) {
      if (obsShown === id) box.replaceChildren(el('p', { class: 'error' }, e.status === 404 ? t('obs.notFound', { id }) : e.message));
      return;
    }
    if (obsShown !== id || current !== 'obs') return;
    drawObs(r);
    if (!membersLast) loadMembers().then(() => { if (obsShown === id && current === 'obs' && !editing) drawObs(obsLast); }).catch(() => null);
  }

  // refreshObs redraws the observation shown if it changed (a new version
  // synced in), keeping the scroll position; not while it is being edited.
  async function refreshObs() {
    const id = obsShown;
    const r = await getJSON('/api/observations/' + encodeURIComponent(id));
    const old = obsDrawn;
    if (current !== 'obs' || obsShown !== id || editing || document.querySelector('#obs .confirm') ||
      (old && old.id === id && old.updated === r.observation.updated && old.heads === r.observation.heads && old.deleted === r.observation.deleted)) return;
    const y = window.scrollY;
    drawObs(r);
    window.scrollTo(0, y);
  }

  let obsDrawn = null; // the observation on the page
  let obsLast = null;  // its detail: {observation, history}
  let obsMap = null;
  let editMap = null;
  let editing = false; // the edit form is open

  function drawObs(r, note) {
    const box = $('obs');
    obsDrawn = r.observation;
    obsLast = r;
    editing = false;
    obsCache.set(r.observation.id, r.observation);
    if (obsMap) { obsMap.remove(); obsMap = null; }
    if (editMap) { editMap.remove(); editMap = null; }
    for (const m of trackMaps) m.remove();
    trackMaps = [];
    box.replaceChildren(renderObs(r.observation, r.history || []));
    drawObsTracks(r.observation);
    if (note) setObsStatus(note[0], note[1]);
    const p = r.observation.position;
    if (p) {
      obsMap = newMap('obs-map');
      // without tiles, a wider view says where this is
      obsMap.setView([p.lat, p.lon], session && session.basemap ? fitZoom() : 4);
      L.marker([p.lat, p.lon], { icon: markerIcon(r.observation.category ? r.observation.category.id : '') }).addTo(obsMap);
      if (p.accuracy_m > 0) {
        obsMap.createPane('accuracy');
        L.circle([p.lat, p.lon], { pane: 'accuracy', radius: p.accuracy_m, weight: 1 }).addTo(obsMap);
      }
    }
  }

  // drawObsTracks draws each track of the observation on a map of its own,
  // fitted to it, in its category's color.
  let trackMaps = [];
  function drawObsTracks(o) {
    const boxes = document.querySelectorAll('#obs .obs-track-map');
    trackAttachments(o).forEach((a, i) => {
      const box = boxes[i];
      if (!box) return;
      box.id = 'obs-track-map-' + i;
      const m = newMap(box.id);
      trackMaps.push(m);
      const bb = a.track && a.track.bbox;
      if (bb) m.fitBounds([[bb[1], bb[0]], [bb[3], bb[2]]], { padding: [20, 20], maxZoom: 17 });
      getJSON('/api/observations/' + encodeURIComponent(o.id) + '/track').then((f) => {
        if (!trackMaps.includes(m) || !f.geometry) return;
        m.createPane('tracks');
        L.geoJSON(f, { pane: 'tracks', style: () => trackStyle({ category: o.category ? o.category.id : '' }) }).addTo(m);
        box.dataset.drawn = 'true';
      }).catch((e) => box.after(el('p', { class: 'muted track-absent' }, e.status === 404 ? t('track.notHere') : e.message)));
    });
  }

  function setObsStatus(cls, text) {
    const st = $('obs-status');
    if (!st) return;
    st.className = cls;
    st.textContent = text;
  }

  function varState(v) {
    const st = stateOf(v);
    if (st === 'partial') return t('state.partialPercent', { percent: Math.floor(v.percent || 0) });
    return stateWord(st);
  }

  function originalLink(att) {
    const v = att.original;
    if (!v) return el('p', { class: 'original muted' }, t('original.none'));
    const make = () => el('p', { class: 'original' },
      el('a', { href: blobURL(v.cid), target: '_blank', rel: 'noopener', class: 'original-link' },
        v.width ? t('original.openSized', { size: fmtBytes(v.size), width: v.width, height: v.height }) : t('original.open', { size: fmtBytes(v.size) })),
      ' · ', el('a', { href: blobURL(v.cid), download: att.name || '' }, t('original.download')));
    const st = stateOf(v);
    if (st === 'present') return make();
    const p = el('p', { class: 'original muted', 'data-cid': v.cid },
      st === 'partial' && v.percent > 0 ? t('original.arrivingPercent', { percent: Math.floor(v.percent) }) : t('original.notHere'));
    wait(v.cid, p, make);
    return p;
  }

  function fixityResult(r) {
    switch (r) {
      case 'ok': return t('fixity.ok');
      case 'corrupt': return t('fixity.corrupt');
      case 'truncated': return t('fixity.truncated');
      case 'missing': return t('fixity.missing');
    }
    return r;
  }

  // fixityText: a present blob is verified against its CID when it is
  // stored; a later fixity check (fieldsync verify) says when and how.
  function fixityText(v) {
    if (stateOf(v) !== 'present') return '–';
    if (!v.fixity) return t('fixity.onArrival');
    return t('fixity.checked', { result: fixityResult(v.fixity.result), time: fmtTime(v.fixity.checked_at) });
  }

  function variantWord(k) {
    switch (k) {
      case 'thumbnail': return t('variant.thumbnail');
      case 'preview': return t('variant.preview');
    }
    return t('variant.original');
  }

  // canEdit: "" when this device may change observations here, else why not.
  function cannotEdit() {
    const d = session && session.device;
    if (!d) return t('common.loading');
    if (d.canWrite) return '';
    return d.readOnly || t('obs.cannotEdit', { role: roleWord(d.role) });
  }

  function renderObs(o, history) {
    const atts = o.attachments || [];
    const tracks = trackAttachments(o);
    let title = o.tags && o.tags.length ? o.tags.join(', ') : t('obs.untitled', { time: fmtTime(o.created) });
    if (tracks.length && tracks[0].track && tracks[0].track.name) title = tracks[0].track.name;
    else if (o.category && (o.category.name || catByID.has(o.category.id))) title = (catByID.get(o.category.id) || o.category).name + ' · ' + fmtTime(o.created);
    const why = cannotEdit();
    const out = el('article', { class: 'obs-page', 'data-id': o.id, 'data-heads': o.heads, 'data-deleted': o.deleted ? 'true' : 'false' },
      el('p', { class: 'back' }, el('a', { href: '#/gallery' }, t('obs.backGallery')), ' ', el('a', { href: '#/map' }, t('obs.backMap'))),
      el('h1', {}, title));

    if (o.deleted) {
      const undo = el('button', { type: 'button', id: 'obs-undo', disabled: !!why }, t('obs.undo'));
      undo.addEventListener('click', () => restoreObs(o, undo));
      out.append(el('div', { class: 'deleted-note' }, el('p', {}, t('obs.deleted')), undo));
    }

    // the actions: edit and delete, with a confirm step before a delete
    const actions = el('div', { class: 'obs-actions' });
    if (!o.deleted) {
      const edit = el('button', { type: 'button', id: 'obs-edit', disabled: !!why }, t('obs.edit'));
      const del = el('button', { type: 'button', id: 'obs-delete', class: 'danger', disabled: !!why }, t('obs.delete'));
      edit.addEventListener('click', () => openEdit(o, actions));
      del.addEventListener('click', () => askFirst(del, t('obs.deleteConfirm'), t('obs.deleteYes'), () => deleteObs(o)));
      actions.append(edit, del);
    }
    actions.append(el('p', { id: 'obs-status', role: 'status' }, why ? why : ''));
    if (why) actions.lastChild.className = 'muted';
    out.append(actions);

    if (o.heads > 1) out.append(renderFork(o, history, why));

    const media = el('div', { class: 'obs-media' });
    if (!atts.length) media.append(el('p', { class: 'muted' }, t('obs.noAttachments')));
    for (const a of atts) {
      const fig = el('figure', { class: 'attachment' + (a.kind === 'track' ? ' track' : '') });
      if (a.kind === 'track') {
        const tr = a.track || {};
        fig.append(el('div', { class: 'obs-track-map', 'aria-label': t('track.mapLabel') }),
          el('p', { class: 'track-info' }, trackSummary({ name: tr.name, length_m: tr.length_m, points: tr.points }),
            tr.start ? ' · ' + fmtTime(tr.start) + (tr.end ? ' – ' + fmtTime(tr.end) : '') : ''));
      } else if (a.preview) fig.append(varImage(a.preview, 'preview', 'preview', { alt: a.name || '' }));
      else fig.append(el('div', { class: 'placeholder preview-placeholder', 'data-state': 'none' }, el('span', {}, t('preview.none'))));
      fig.append(el('figcaption', {}, a.name || a.kind || ''), originalLink(a));
      media.append(fig);
    }
    out.append(media);

    out.append(el('dl', { class: 'record' },
      el('dt', {}, t('obs.time')), el('dd', {}, el('time', { datetime: o.created }, fmtTime(o.created))),
      fieldRows(o),
      o.updated && o.updated !== o.created ? [el('dt', {}, t('obs.updated')), el('dd', {}, fmtTime(o.updated))] : null,
      el('dt', {}, t('obs.position')), el('dd', { class: 'position' }, fmtPos(o.position),
        o.position ? el('div', { id: 'obs-map', 'aria-label': t('obs.mapLabel') }) : null),
      el('dt', {}, t('obs.tags')), el('dd', { class: 'tags' }, o.tags && o.tags.length ? o.tags.join(', ') : '–'),
      el('dt', {}, t('obs.notes')), el('dd', { class: 'notes' }, o.notes || '–'),
      el('dt', {}, t('obs.author')), el('dd', { class: 'author' }, memberLabel(o.author), ' ', el('span', { class: 'mono muted' }, o.author || '')),
      el('dt', {}, t('obs.id')), el('dd', { class: 'mono' }, o.id)));

    out.append(el('h2', {}, t('obs.history')));
    out.append(el('p', { class: 'muted' }, t('obs.historyHelp')));
    const rows = history.map((v) => {
      const marks = [];
      if (v.winner) marks.push(t('history.wins'));
      else if (v.head) marks.push(t('history.fork'));
      if (v.counted === false) marks.push(t('history.refused'));
      if (v.deleted) marks.push(t('history.deletes'));
      const cls = [v.winner ? 'winner' : '', v.head ? 'head' : '', v.counted === false ? 'refused' : ''].filter(Boolean).join(' ');
      return el('tr', { class: cls || null, 'data-record': v.record },
        el('td', {}, String(v.seq)), el('td', {}, fmtTimeExact(v.updated)),
        el('td', { title: v.author }, memberLabel(v.author)),
        el('td', {}, (v.tags || []).join(', ')), el('td', {}, truncate(v.notes, 80)),
        el('td', { class: 'history-fields' }, v.category ? [catChip(v.category), ' ', truncate(fieldsSummary(v.category, v.fields), 120)] : '–'),
        el('td', {}, v.position ? fmtPos(v.position) : '–'),
        el('td', { class: 'marks' }, marks.join(', ')),
        el('td', { class: 'mono', title: v.record }, shortID(v.record)));
    });
    out.append(el('div', { class: 'scroll-x' }, el('table', { class: 'history' },
      el('thead', {}, el('tr', {}, [t('history.seq'), t('history.updated'), t('history.author'), t('obs.tags'), t('obs.notes'),
        t('obs.category'), t('obs.position'), '', t('history.version')].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows))));

    for (const a of atts) {
      out.append(el('h2', {}, t('obs.attachment', { name: a.name || '' }) + ' ', el('span', { class: 'muted' }, a.media_type || '')));
      const vrows = ['thumbnail', 'preview', 'original'].map((k) => {
        const v = a[k];
        if (!v) return el('tr', {}, el('th', {}, variantWord(k)), el('td', { colspan: 5, class: 'muted' }, t('state.none')));
        return el('tr', { 'data-variant': k },
          el('th', {}, variantWord(k)), el('td', { class: 'mono cid' }, v.cid), el('td', {}, fmtBytes(v.size)),
          el('td', {}, v.width ? v.width + '×' + v.height : '–'),
          el('td', { class: 'state state-' + stateOf(v) }, varState(v)),
          el('td', { class: 'fixity' }, fixityText(v)));
      });
      out.append(el('div', { class: 'scroll-x' }, el('table', { class: 'variants' },
        el('thead', {}, el('tr', {}, [t('variant.variant'), 'CID', t('variant.size'), t('variant.dimensions'), t('variant.state'), t('variant.verified')].map((h) => el('th', {}, h)))),
        el('tbody', {}, vrows))));
    }
    return out;
  }

  // renderFork shows the competing versions of a fork side by side, the
  // one that wins for now marked, each with a button to keep it.
  function renderFork(o, history, why) {
    const heads = history.filter((v) => v.head && v.counted !== false);
    heads.sort((a, b) => (b.winner ? 1 : 0) - (a.winner ? 1 : 0));
    const cards = heads.map((v) => {
      const keep = el('button', { type: 'button', class: 'keep', disabled: !!why }, t('fork.keep'));
      keep.addEventListener('click', () => keepVersion(o, v, keep));
      return el('section', { class: 'version' + (v.winner ? ' winner' : ''), 'data-record': v.record },
        el('p', { class: 'version-mark' }, v.winner ? t('fork.winner') : t('fork.other')),
        v.deleted ? el('p', { class: 'error' }, t('fork.deletes')) : null,
        el('dl', {},
          el('dt', {}, t('obs.notes')), el('dd', { class: 'notes' }, v.notes || '–'),
          el('dt', {}, t('obs.tags')), el('dd', { class: 'tags' }, (v.tags || []).length ? v.tags.join(', ') : '–'),
          el('dt', {}, t('obs.category')), el('dd', { class: 'category' }, v.category ? [catChip(v.category), ' ', fieldsSummary(v.category, v.fields)] : '–'),
          el('dt', {}, t('obs.position')), el('dd', { class: 'position' }, v.position ? fmtPos(v.position) : t('obs.noPosition')),
          el('dt', {}, t('obs.author')), el('dd', { class: 'author', title: v.author }, memberLabel(v.author)),
          el('dt', {}, t('fork.changed')), el('dd', {}, fmtTimeExact(v.updated))),
        keep);
    });
    return el('div', { class: 'fork', id: 'fork' },
      el('h2', {}, t('fork.title', { n: heads.length })),
      el('p', {}, t('fork.help')),
      el('div', { class: 'versions' }, cards));
  }

  async function keepVersion(o, v, button) {
    button.disabled = true;
    setObsStatus('muted', t('common.saving'));
    try {
      const r = await send('POST', '/api/observations/' + encodeURIComponent(o.id) + '/keep', { record: v.record });
      drawObs(r, ['ok', t('fork.kept')]);
      observationsChanged();
    } catch (e) {
      button.disabled = false;
      setObsStatus('error', failed(t('obs.notSaved'), e));
    }
  }

  async function deleteObs(o) {
    setObsStatus('muted', t('common.saving'));
    try {
      const r = await send('DELETE', '/api/observations/' + encodeURIComponent(o.id));
      forget(o.id);
      drawObs(r, ['ok', t('obs.deletedNow')]);
      observationsChanged();
    } catch (e) {
      setObsStatus('error', failed(t('obs.notDeleted'), e));
    }
  }

  async function restoreObs(o, button) {
    button.disabled = true;
    try {
      const r = await send('PATCH', '/api/observations/' + encodeURIComponent(o.id), { deleted: false });
      drawObs(r, ['ok', t('obs.restored')]);
      changedIDs.add(o.id);
      observationsChanged();
    } catch (e) {
      button.disabled = false;
      setObsStatus('error', failed(t('obs.notSaved'), e));
    }
  }

  // openEdit shows the edit form under the actions: notes, tags, and the
  // position on a map (click to move it) or removed.
  function openEdit(o, actions) {
    if ($('edit-form')) return;
    editing = true;
    const notes = el('textarea', { name: 'notes', rows: 4 });
    notes.value = o.notes || '';
    const tags = el('input', { type: 'text', name: 'tags', autocomplete: 'off', placeholder: t('field.tagsPlaceholder') });
    tags.value = (o.tags || []).join(', ');
    const lat = el('input', { type: 'number', name: 'lat', step: 'any', min: -90, max: 90, inputmode: 'decimal' });
    const lon = el('input', { type: 'number', name: 'lon', step: 'any', min: -180, max: 180, inputmode: 'decimal' });
    if (o.position) { lat.value = String(o.position.lat); lon.value = String(o.position.lon); }
    // the category (those for this kind of observation, and its own even
    // if removed) and the fields of the one chosen
    const kind = trackAttachments(o).length ? 'track' : 'observation';
    const own = o.category ? o.category.id : '';
    const choices = categoriesFor(kind);
    if (own && !choices.some((c) => c.id === own)) choices.unshift(catByID.get(own) || { id: own, name: o.category.name || own });
    const catSel = el('select', { name: 'category', id: 'edit-category' },
      el('option', { value: '' }, t('add.noCategory')), choices.map((c) => el('option', { value: c.id }, c.name)));
    catSel.value = own;
    const catIconBox = el('span', { class: 'edit-cat-icon' });
    const fieldsBox = el('div', { id: 'edit-fields', class: 'fields' });
    const drawFields = () => {
      const c = catByID.get(catSel.value);
      // values typed so far stay when the category changes, for the keys
      // the other has too
      const now = {};
      const before = catByID.get(fieldsBox.dataset.category || '');
      for (const f of (before && before.fields) || []) now[f.key] = formValue(fieldsBox, f);
      fieldsBox.dataset.category = catSel.value;
      const vals = fieldsBox.childElementCount ? now : (o.fields || {});
      fieldsBox.replaceChildren(...fieldsForm(c, vals, ''));
      catIconBox.replaceChildren(c ? catIconImg(c, 'choice-icon') : '');
    };
    catSel.addEventListener('change', drawFields);
    const status = el('p', { id: 'edit-status', role: 'status' });
    const save = el('button', { type: 'submit', id: 'edit-save' }, t('common.save'));
    const cancel = el('button', { type: 'button', id: 'edit-cancel' }, t('common.cancel'));
    const clear = el('button', { type: 'button', id: 'edit-clear' }, t('edit.removePosition'));
    const form = el('form', { id: 'edit-form', class: 'edit-form' },
      el('fieldset', { id: 'edit-fieldset' },
        el('legend', {}, t('edit.title')),
        el('label', {}, el('span', {}, t('field.notes')), notes),
        el('label', {}, el('span', {}, t('field.tags')), tags),
        el('div', { class: 'edit-category' }, el('label', { for: 'edit-category' }, t('add.category')), el('div', { class: 'edit-category-row' }, catIconBox, catSel)),
        fieldsBox,
        el('p', { class: 'muted' }, t('edit.positionHelp')),
        el('div', { id: 'edit-map', 'aria-label': t('edit.mapLabel') }),
        el('div', { class: 'latlon' },
          el('label', {}, el('span', {}, t('field.lat')), lat),
          el('label', {}, el('span', {}, t('field.lon')), lon),
          clear),
        el('div', { class: 'submit-row' }, save, cancel, status)));
    actions.after(form);
    $('obs-edit').disabled = true;
    drawFields();

    editMap = newMap('edit-map');
    let marker = null;
    const place = () => {
      const a = parseFloat(lat.value);
      const b = parseFloat(lon.value);
      if (isNaN(a) || isNaN(b)) { if (marker) { marker.remove(); marker = null; } return; }
      if (marker) marker.setLatLng([a, b]);
      else marker = L.marker([a, b]).addTo(editMap);
    };
    if (o.position) editMap.setView([o.position.lat, o.position.lon], session && session.basemap ? Math.max(5, fitZoom() - 3) : 5);
    else if (map && cluster && cluster.getLayers().length) editMap.fitBounds(cluster.getBounds(), { padding: [20, 20], maxZoom: fitZoom() });
    else pointsBounds().then((bd) => { if (bd && editMap) editMap.fitBounds(bd, { padding: [20, 20], maxZoom: fitZoom() }); });
    place();
    editMap.on('click', (e) => {
      const ll = e.latlng.wrap();
      lat.value = ll.lat.toFixed(6);
      lon.value = ll.lng.toFixed(6);
      place();
    });
    lat.addEventListener('input', place);
    lon.addEventListener('input', place);
    clear.addEventListener('click', () => { lat.value = ''; lon.value = ''; place(); });
    cancel.addEventListener('click', () => {
      editing = false;
      if (editMap) { editMap.remove(); editMap = null; }
      form.remove();
      $('obs-edit').disabled = false;
      $('obs-edit').focus();
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = {};
      const n = notes.value.trim();
      if (n !== (o.notes || '')) body.notes = n;
      const tg = tags.value.split(',').map((x) => x.trim()).filter(Boolean);
      if (tg.join('\n') !== (o.tags || []).join('\n')) body.tags = tg;
      if ((lat.value === '') !== (lon.value === '')) {
        status.className = 'error';
        status.textContent = t('edit.bothOrNeither');
        return;
      }
      if (lat.value === '') {
        if (o.position) body.remove_position = true;
      } else {
        const a = parseFloat(lat.value);
        const b = parseFloat(lon.value);
        if (!o.position || Math.abs(a - o.position.lat) > 1e-9 || Math.abs(b - o.position.lon) > 1e-9) { body.lat = a; body.lon = b; }
      }
      // the category, and the field values that changed ('' or [] removes one)
      const c = catByID.get(catSel.value);
      const changedCat = catSel.value !== own;
      if (changedCat) body.category = catSel.value;
      if (c) {
        const fields = {};
        for (const f of c.fields || []) {
          const v = formValue(fieldsBox, f);
          const old = (o.fields || {})[f.key];
          if (!sameValue(v, changedCat ? undefined : old)) fields[f.key] = v;
        }
        // under a new category, an empty field is sent only to remove a
        // value the observation had (the node keeps those the new
        // category also has)
        if (changedCat) {
          for (const k of Object.keys(fields)) if (isEmpty(fields[k]) && isEmpty((o.fields || {})[k])) delete fields[k];
        }
        if (Object.keys(fields).length) body.fields = fields;
      }
      if (!Object.keys(body).length) {
        status.className = 'muted';
        status.textContent = t('edit.nothing');
        return;
      }
      markInvalid(form, null);
      $('edit-fieldset').disabled = true;
      status.className = 'muted';
      status.textContent = t('common.saving');
      try {
        const r = await send('PATCH', '/api/observations/' + encodeURIComponent(o.id), body);
        drawObs(r, ['ok', t('edit.saved')]);
        changedIDs.add(o.id);
        observationsChanged();
      } catch (e) {
        $('edit-fieldset').disabled = false;
        status.className = 'error';
        status.textContent = failed(t('obs.notSaved'), e);
        markInvalid(form, e.field, e.message);
      }
    });
    notes.focus();
  }

  // ---------- sync ----------

  let lastSync = null;
  let syncLoaded = false;
  function showSync() {
    if (!syncLoaded) {
      syncLoaded = true;
      getJSON('/api/sync').then(renderSync).catch((e) => { $('sync-status').textContent = t('error.load', { error: e.message }); });
    }
  }

  function syncStatus(s) {
    const running = s ? s.running : session && session.syncing;
    if (!running) return ['not-syncing', t('sync.notSyncing')];
    if (s && s.complete) return ['complete', t('sync.complete')];
    const connected = s && (s.peers || []).some((p) => p.state === 'connected');
    if (s && !connected) return ['waiting', t('sync.waiting')];
    return ['syncing', s && s.idle ? t('sync.idle') : t('sync.syncing')];
  }

  function renderSyncBadge(s) {
    if (!session) return;
    const [state, text] = syncStatus(s);
    const b = $('sync-badge');
    b.dataset.state = state;
    b.textContent = state === 'not-syncing' ? t('sync.badgeNotSyncing') : text;
  }

  let lastBlobCheck = 0;
  // awaitingShown: some placeholder on the page waits for its blob.
  function awaitingShown() {
    for (const list of waiting.values()) {
      if (list.some((w) => w.el.isConnected)) return true;
    }
    return false;
  }

  function renderSync(s) {
    // Thumbnails done went up while some are still awaited: look again at
    // the newest page, in case a "blob" event was missed.
    const thumbs = (x) => (x && x.classes && x.classes.thumbnail ? x.classes.thumbnail.filesDone : 0);
    if (lastSync && thumbs(s) > thumbs(lastSync) && gallery.started && Date.now() - lastBlobCheck > 2000 && awaitingShown()) {
      lastBlobCheck = Date.now();
      refreshGallery(null, null).catch(() => {});
    }
    lastSync = s;
    renderSyncBadge(s);
    const [state, text] = syncStatus(s);
    const st = $('sync-status');
    st.dataset.state = state;
    st.textContent = text;
    renderReach(s.reach);
    $('sync-rate').textContent = fmtRate(s.rate);
    $('sync-eta').textContent = s.complete ? t('sync.done') : fmtETA(s.eta);

    const rec = s.records || {};
    const rr = document.querySelector('#sync-classes tr[data-class="records"]');
    // records: how many are here, and how many came from peers since start;
    // there is no "wanted" count for them, so the bar is full once complete.
    const rp = rr.querySelector('progress');
    rr.querySelector('.files').textContent = typeof rec.applied === 'number'
      ? t('sync.recordsReceived', { here: fmtNum(rec.present), received: fmtNum(rec.applied) })
      : t('sync.recordsHere', { here: fmtNum(rec.present) });
    if (!s.running) setProgress(rp, null, null);
    else if (s.complete) setProgress(rp, 1, 1);
    else { rp.removeAttribute('value'); rp.textContent = t('sync.syncing'); }
    rr.querySelector('.bytes').textContent = '';

    for (const k of ['thumbnail', 'preview', 'original', 'attachment']) {
      const c = (s.classes || {})[k];
      const tr = document.querySelector('#sync-classes tr[data-class="' + k + '"]');
      if (!c) { // not known (no sync running)
        tr.querySelector('.files').textContent = '–';
        tr.querySelector('.bytes').textContent = '–';
        setProgress(tr.querySelector('progress'), null, null);
        continue;
      }
      tr.querySelector('.files').textContent = fmtNum(c.filesDone) + ' / ' + fmtNum(c.filesWanted);
      tr.querySelector('.bytes').textContent = fmtBytes(c.bytesDone) + ' / ' + fmtBytes(c.bytesWanted);
      setProgress(tr.querySelector('progress'), c.bytesDone, c.bytesWanted);
    }

    const peers = s.peers || [];
    $('peers-body').replaceChildren(...peers.map((p) => el('tr', { class: 'peer', 'data-peer': p.id, 'data-state': p.state },
      el('td', { title: p.id }, memberLabel(p.id)),
      el('td', { title: p.reason || null }, peerStateWord(p.state) + (p.reason ? ' (' + p.reason + ')' : '')),
      el('td', { class: 'path', 'data-path': p.path || '' }, pathWord(p.path)),
      el('td', {}, fmtRate(p.rate)), el('td', {}, fmtBytes(p.received)), el('td', {}, fmtBytes(p.sent)),
      el('td', {}, fmtNum(p.inFlight)))));
    $('peers-none').hidden = peers.length > 0;

    // The always-on devices: how many of the files this device holds are
    // safe there (live while connected, else as of the last sync).
    const archives = s.archives || [];
    $('archives').hidden = archives.length === 0;
    $('archives-body').replaceChildren(...archives.map((a) => {
      const safe = a.held - a.lacking;
      let what = t('sync.archive.row', { safe: fmtNum(safe), held: fmtNum(a.held) });
      what += a.lacking > 0 ? ', ' + t('sync.archive.left', { files: fmtNum(a.lacking), bytes: fmtBytes(a.bytesLacking) }) : ' · ' + t('sync.archive.allSafe');
      if (!a.live) what += ' (' + t('sync.archive.lastSync') + ')';
      const bar = el('progress', {});
      if (a.checked) setProgress(bar, safe, a.held);
      else { what = t('sync.archive.checking'); setProgress(bar, null, null); }
      return el('tr', { class: 'archive', 'data-peer': a.id, 'data-lacking': a.checked ? String(a.lacking) : '', 'data-held': String(a.held) },
        el('td', { title: a.id }, memberLabel(a.id)), el('td', { class: 'safe' }, what), el('td', {}, bar));
    }));
  }

  // renderReach says whether this device can be reached from the
  // internet, as the project's always-on devices found by dialling it
  // back (hidden while the network does not run).
  function renderReach(r) {
    const p = $('sync-reach');
    p.hidden = !r;
    if (!r) return;
    const addrs = (as) => (as || []).join(', ');
    const relay = (r.relays || []).map(memberLabel).join(' / ');
    let text;
    if (r.state === 'reachable') text = t('sync.reach.public', { addrs: addrs(r.reachable) });
    else if (r.state === 'behind-nat') text = relay ? t('sync.reach.nat', { relay }) : t('sync.reach.natNoRelay');
    else if (r.always_on) text = t('sync.reach.alwaysOn', { addrs: addrs(r.unknown) });
    else text = relay ? t('sync.reach.unknownRelay', { relay }) : t('sync.reach.unknown');
    p.dataset.state = r.state;
    p.textContent = text;
  }

  // setProgress shows done/wanted; nothing wanted is a full bar, unknown
  // (null) an empty one.
  function setProgress(p, done, wanted) {
    if (wanted === null) { p.max = 1; p.value = 0; p.textContent = '–'; return; }
    p.max = wanted > 0 ? wanted : 1;
    p.value = wanted > 0 ? Math.min(done || 0, wanted) : 1;
    p.textContent = wanted > 0 ? Math.floor((100 * (done || 0)) / wanted) + ' %' : '–';
  }

  // ---------- add ----------

  let addMap = null;
  let addMarker = null;
  let addReady = false;

  // applyPermissions says what this device may do: the add form is
  // closed, with the reason, when it may not add observations.
  function applyPermissions() {
    const d = (session && session.device) || {};
    if (d.blocked) {
      showBanner(t('device.blocked', { name: d.blocked.by_name || shortID(d.blocked.by), date: fmtTime(d.blocked.at) }));
    }
    const status = $('add-status');
    const closed = !d.canWrite;
    const was = $('add-fieldset').disabled && status.dataset.closed === 'true';
    $('add-fieldset').disabled = closed;
    status.dataset.closed = closed ? 'true' : 'false';
    if (closed) {
      status.className = 'error';
      status.textContent = d.readOnly || t('add.cannot', { role: roleWord(d.role) });
    } else if (was) {
      status.textContent = '';
    }
  }

  function setupAdd() {
    if (addReady) return;
    addReady = true;
    const form = $('add-form');
    const status = $('add-status');
    const lat = form.elements.lat;
    const lon = form.elements.lon;
    const syncMarker = () => {
      if (!addMap) return;
      const a = parseFloat(lat.value);
      const b = parseFloat(lon.value);
      if (isNaN(a) || isNaN(b)) {
        if (addMarker) { addMarker.remove(); addMarker = null; }
        return;
      }
      if (addMarker) addMarker.setLatLng([a, b]);
      else addMarker = L.marker([a, b]).addTo(addMap);
    };
    lat.addEventListener('input', syncMarker);
    lon.addEventListener('input', syncMarker);
    $('add-clear').addEventListener('click', () => { lat.value = ''; lon.value = ''; syncMarker(); });
    form.addEventListener('reset', () => setTimeout(() => { syncMarker(); renderAddFields(); }, 0));
    $('add-category').addEventListener('change', renderAddFields);

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!session.device || !session.device.canWrite) return;
      const fd = new FormData(form);
      const hasFiles = fd.getAll('files').some((f) => f && f.size > 0);
      if (!hasFiles && !fd.get('category') && !String(fd.get('notes') || '').trim() && !String(fd.get('tags') || '').trim() && lat.value === '') {
        status.className = 'error';
        status.textContent = t('add.nothing');
        return;
      }
      if (!fd.get('category')) fd.delete('category');
      markInvalid(form, null);
      if ((lat.value === '') !== (lon.value === '')) {
        status.className = 'error';
        status.textContent = t('edit.bothOrNeither');
        return;
      }
      if (lat.value === '') { fd.delete('lat'); fd.delete('lon'); } // the photo's EXIF, if any
      // each file's own date, used for a photo without an EXIF time
      fd.set('mtimes', fd.getAll('files').filter((f) => f && f.name).map((f) => f.lastModified || 0).join(','));
      $('add-fieldset').disabled = true;
      status.className = 'muted';
      status.textContent = t('add.uploading');
      try {
        const r = await upload(fd, (pct) => { status.textContent = t('add.uploadingPercent', { percent: pct }); });
        const o = r.observation;
        obsCache.set(o.id, o);
        form.reset();
        status.className = 'ok';
        status.replaceChildren(t('add.added') + ' ', el('a', { href: '#/obs/' + encodeURIComponent(o.id), id: 'add-result' }, t('add.open')));
        observationsChanged();
      } catch (e) {
        status.className = 'error';
        status.textContent = failed(t('add.notAdded'), e);
        markInvalid(form, e.field, e.message);
      } finally {
        $('add-fieldset').disabled = !session.device.canWrite;
        status.scrollIntoView({ block: 'nearest' });
      }
    });
  }

  // upload POSTs the form with XMLHttpRequest (fetch tells no upload
  // progress) and resolves with the JSON answer, or rejects with the
  // server's error text.
  function upload(fd, progress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('POST', '/api/observations');
      x.setRequestHeader('X-CSRF-Token', session.csrf);
      x.setRequestHeader('Accept', 'application/json');
      x.responseType = 'text';
      x.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable && e.total > 0) progress(Math.floor((100 * e.loaded) / e.total));
      });
      x.addEventListener('load', () => {
        let j = null;
        try { j = JSON.parse(x.responseText); } catch (_) { /* not JSON */ }
        if (x.status >= 200 && x.status < 300 && j && j.observation) resolve(j);
        else reject(new HTTPError(x.status, (j && j.error) || x.status + ' ' + x.statusText, j && j.field));
      });
      x.addEventListener('error', () => reject(new HTTPError(0, t('error.connection'))));
      x.send(fd);
    });
  }

  async function showAdd() {
    await sessionReady.catch(() => null);
    if (current !== 'add') return;
    if (addMap) { addMap.invalidateSize(); return; }
    addMap = newMap('add-map');
    if (map && cluster && cluster.getLayers().length) addMap.fitBounds(cluster.getBounds(), { padding: [20, 20], maxZoom: fitZoom() });
    else pointsBounds().then((b) => { if (b) addMap.fitBounds(b, { padding: [20, 20], maxZoom: fitZoom() }); });
    const form = $('add-form');
    addMap.on('click', (e) => {
      if ($('add-fieldset').disabled) return;
      const ll = e.latlng.wrap();
      form.elements.lat.value = ll.lat.toFixed(6);
      form.elements.lon.value = ll.lng.toFixed(6);
      form.elements.lat.dispatchEvent(new Event('input'));
    });
  }

  // ---------- events ----------

  function connect() {
    const es = new EventSource('/api/events');
    let wasDown = false;
    es.addEventListener('open', () => {
      $('conn').hidden = true;
      if (wasDown) {
        // events may have been missed while away
        wasDown = false;
        changedAll = true;
        observationsChanged();
        membersChanged();
        getJSON('/api/sync').then(renderSync).catch(() => {});
      }
    });
    es.addEventListener('error', () => { $('conn').hidden = false; wasDown = true; });
    es.addEventListener('sync', (e) => { try { renderSync(JSON.parse(e.data)); } catch (err) { console.warn(err); } });
    es.addEventListener('observations', (e) => {
      let all = false;
      try {
        const d = JSON.parse(e.data);
        if (d && Array.isArray(d.ids) && !d.all) d.ids.forEach((id) => changedIDs.add(id));
        else all = true;
      } catch (err) { all = true; }
      if (all) {
        changedAll = true;
        membersChanged(); // a membership change re-counts everything
        categoriesChanged(); // or category records arrived
      }
      observationsChanged();
    });
    es.addEventListener('members', () => membersChanged());
    es.addEventListener('blob', (e) => {
      try { const d = JSON.parse(e.data); if (d && d.cid) blobArrived(d.cid); } catch (err) { console.warn(err); }
    });
  }

  // ---------- start: the words first, then the session and the view ----------

  $('lang').addEventListener('change', (e) => switchLanguage(e.target.value));
  wordsReady = loadWords().catch((e) => console.warn('words:', e));
  const sessionAsked = getJSON('/api/session'); // meanwhile
  sessionAsked.catch(() => {}); // handled below, once the words are here
  sessionReady = wordsReady.then(() => sessionAsked).then(applySession);
  sessionReady.catch((e) => showBanner(t('error.session', { error: e.message })));
  wordsReady.then(() => {
    applyStatic();
    window.addEventListener('hashchange', route);
    route();
    connect();
  });
})();
