// fieldsync web app: map, gallery, observation page, sync view, add form.
// Plain JavaScript, no build step. The HTTP API is described in docs/ui.md.
// Every text that comes from the API is put in the page with textContent
// (through el() below), never as HTML.
'use strict';

(function () {
  const PAGE = 60;           // gallery page size
  const EAGER = 24;          // first cards whose thumbnails load eagerly
  const UNPLACED_PAGE = 100;

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

  class HTTPError extends Error {
    constructor(status, message) { super(message); this.status = status; }
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
      if (res.status === 401) showBanner('Not signed in: open the URL that fieldsync printed (the one with ?token=).');
      throw new HTTPError(res.status, msg);
    }
    return res.json();
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
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + '\u00a0' + u[i]; // no break inside "1.5 MiB"
  }
  const fmtRate = (n) => (n > 0 ? fmtBytes(n) + '/s' : '–');
  function fmtETA(s) {
    if (s === null || s === undefined || s < 0) return 'unknown';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso || '';
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }
  const fmtNum = (n) => (typeof n === 'number' ? n.toLocaleString() : '–');
  const shortID = (id) => (id && id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-6) : id || '');
  const truncate = (s, n) => (s && s.length > n ? s.slice(0, n - 1).trimEnd() + '…' : s || '');
  function fmtPos(p) {
    if (!p) return 'no position';
    let s = p.lat.toFixed(5) + ', ' + p.lon.toFixed(5);
    if (p.accuracy_m) s += ' (±' + Math.round(p.accuracy_m) + ' m)';
    return s;
  }
  const blobURL = (cid) => '/api/blobs/' + encodeURIComponent(cid);

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
    let text;
    if (st === 'none') text = 'no ' + what;
    else if (st === 'partial' && v.percent > 0) text = what + ' arriving, ' + Math.floor(v.percent) + ' %';
    else text = opts.absentText || what + ' arriving';
    const ph = el('div', { class: 'placeholder ' + cls + '-placeholder', 'data-state': st }, el('span', {}, text));
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
  const sessionReady = getJSON('/api/session').then((s) => {
    session = s;
    const name = (s.project && s.project.name) || 'fieldsync';
    $('project-name').textContent = name;
    document.title = name + ' · fieldsync';
    setupAdd();
    renderSyncBadge(lastSync);
    return s;
  }).catch((e) => { showBanner('Could not load the session: ' + e.message); throw e; });

  const views = ['map', 'gallery', 'obs', 'sync', 'add'];
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
    else if (view === 'add') showAdd();
  }
  window.addEventListener('hashchange', route);

  // ---------- world outline (both maps) ----------

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
      const m = await getJSON('/api/map');
      const pts = m.points || [];
      syncMarkers(pts, true);
      if (pts.length) map.fitBounds(L.latLngBounds(pts.map((p) => [p[0], p[1]])), { padding: [30, 30], maxZoom: fitZoom() });
      else if (session && session.basemap && session.basemap.bounds) {
        const [w, s, e, n] = session.basemap.bounds;
        map.fitBounds([[s, w], [n, e]]);
      }
    } catch (e) {
      showBanner('Could not load the map points: ' + e.message);
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
    for (const [lat, lon, id] of points) {
      seen.add(id);
      let m = markers.get(id);
      if (m) {
        const ll = m.getLatLng();
        if (ll.lat === lat && ll.lng === lon) continue;
        cluster.removeLayer(m);
        m.setLatLng([lat, lon]);
      } else {
        m = L.marker([lat, lon], { title: id });
        // the popup's content is made when it first opens (10,000 markers
        // need no 10,000 elements)
        m.bindPopup('…', { minWidth: 160, maxWidth: 260 });
        m.once('popupopen', () => m.setPopupContent(popupFor(id, m)));
        markers.set(id, m);
      }
      add.push(m);
    }
    if (all) {
      const gone = [];
      for (const [id, m] of markers) {
        if (!seen.has(id)) { gone.push(m); markers.delete(id); }
      }
      if (gone.length) cluster.removeLayers(gone);
    }
    if (add.length) cluster.addLayers(add);
  }

  function popupFor(id, marker) {
    const box = el('div', { class: 'popup' }, el('p', { class: 'muted' }, 'loading…'));
    const fill = (o) => {
      const att = mainAttachment(o);
      const refresh = () => marker.getPopup() && marker.getPopup().update();
      box.replaceChildren(
        el('a', { href: '#/obs/' + encodeURIComponent(o.id), class: 'popup-link' },
          att ? varImage(att.thumbnail, 'thumb', 'thumbnail', { onload: refresh }) : el('div', { class: 'placeholder thumb-placeholder' }, 'no thumbnail'),
          el('span', { class: 'popup-time' }, fmtTime(o.created))),
        o.tags && o.tags.length ? el('p', { class: 'tags' }, o.tags.join(', ')) : null,
        el('a', { href: '#/obs/' + encodeURIComponent(o.id) }, 'open observation'));
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
  async function loadUnplaced(first) {
    if (unplacedLoading) return;
    unplacedLoading = true;
    try {
      let url = '/api/observations?placed=0&limit=' + UNPLACED_PAGE;
      if (!first) url += '&cursor=' + encodeURIComponent(unplacedNext);
      const r = await getJSON(url);
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
      $('unplaced').replaceChildren(el('li', { class: 'error' }, e.message));
    } finally {
      unplacedLoading = false;
    }
  }
  $('unplaced-more').addEventListener('click', () => loadUnplaced(false));

  // With every observation placed, the list's column goes and the map
  // takes the width.
  function setUnplacedCount(n) {
    $('unplaced-count').textContent = '(' + fmtNum(n) + ')';
    const panel = $('unplaced-panel');
    if (panel.hidden !== (n === 0)) {
      panel.hidden = n === 0;
      if (map) map.invalidateSize();
    }
  }

  function unplacedItem(o) {
    const label = [o.tags && o.tags.join(', '), truncate(o.notes, 60)].filter(Boolean).join(' · ');
    return el('li', { 'data-id': o.id, 'data-updated': o.updated },
      el('a', { href: '#/obs/' + encodeURIComponent(o.id) },
        el('time', { datetime: o.created }, fmtTime(o.created)), label ? ' ' + label : ''));
  }

  // ---------- gallery ----------

  const gallery = { started: false, next: '', loading: false, cards: new Map(), total: 0 }; // cards: id → .card
  let galleryObserver = null;
  window.fieldsync = {
    markerCount: () => (cluster ? cluster.getLayers().length : 0),
    galleryCount: () => document.querySelectorAll('#gallery .card').length,
    firstGalleryPaint: null,
  };

  function card(o, i) {
    const att = mainAttachment(o);
    const href = '#/obs/' + encodeURIComponent(o.id);
    let media;
    if (!att || !att.thumbnail) media = el('div', { class: 'placeholder thumb-placeholder', 'data-state': 'none' }, el('span', {}, 'no thumbnail'));
    else media = varImage(att.thumbnail, 'thumb', 'thumbnail', { lazy: i >= EAGER, alt: att.name || '' });
    const n = (o.attachments || []).length;
    return el('a', { class: 'card' + (o.deleted ? ' deleted' : ''), href, 'data-id': o.id, 'data-updated': o.updated },
      el('div', { class: 'media' }, media, n > 1 ? el('span', { class: 'count-badge' }, String(n)) : null),
      el('div', { class: 'meta' },
        el('time', { datetime: o.created }, fmtTime(o.created)),
        o.tags && o.tags.length ? el('ul', { class: 'tags' }, o.tags.map((t) => el('li', {}, t))) : null,
        o.notes ? el('p', { class: 'notes' }, truncate(o.notes, 120)) : null,
        o.deleted ? el('p', { class: 'error' }, 'deleted') : null));
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

  async function loadGalleryPage() {
    const first = gallery.cards.size === 0 && !gallery.next;
    if (gallery.loading || (!first && !gallery.next)) return;
    gallery.loading = true;
    $('gallery-status').textContent = 'loading…';
    try {
      let url = '/api/observations?limit=' + PAGE;
      if (!first) url += '&cursor=' + encodeURIComponent(gallery.next);
      const r = await getJSON(url);
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
      $('gallery-status').textContent = gallery.next ? '' : (gallery.cards.size ? 'That is all.' : 'No observations yet.');
      if (first) markFirstPaint();
    } catch (e) {
      $('gallery-status').textContent = 'Could not load: ' + e.message;
    } finally {
      gallery.loading = false;
    }
    requestAnimationFrame(checkSentinel);
  }

  function setTotal(n) {
    gallery.total = n;
    $('gallery-total').textContent = fmtNum(n) + (n === 1 ? ' observation' : ' observations') + ', newest first';
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

  // ---------- live: new observations ----------

  // An "observations" event says records arrived (a sync, an upload): the
  // gallery, the map and the unplaced list look again, at most once a second.
  let refreshTimer = null;
  let refreshing = false;
  let lastRefresh = 0;
  function observationsChanged() {
    if (refreshTimer) return;
    const wait = Math.max(300, lastRefresh + 1000 - Date.now());
    refreshTimer = setTimeout(() => { refreshTimer = null; refreshAll(); }, wait);
  }

  async function refreshAll() {
    if (refreshing) { observationsChanged(); return; }
    refreshing = true;
    lastRefresh = Date.now();
    try {
      const jobs = [];
      if (gallery.started) jobs.push(refreshGallery());
      if (map) jobs.push(refreshMap(), refreshUnplaced());
      else { changedIDs = new Set(); changedAll = false; } // the map loads everything when first shown
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

  async function refreshGallery() {
    const r = await getJSON(reloadURL('/api/observations?', gallery.cards.size, PAGE));
    noticeBlobs(r.items);
    merge($('gallery'), gallery.cards, r.items, (o) => card(o, 0), !!gallery.next);
    setTotal(r.total);
    if (gallery.cards.size) $('gallery-status').textContent = gallery.next ? '' : 'That is all.';
  }

  // The observations that "observations" events named since the map last
  // looked (changedAll: an event said "all", or one was missed): the map
  // asks for those alone instead of every position again.
  let changedIDs = new Set();
  let changedAll = false;

  async function refreshMap() {
    const ids = [...changedIDs];
    const all = changedAll || ids.length > 400;
    changedIDs = new Set();
    changedAll = false;
    if (all) {
      const m = await getJSON('/api/map');
      syncMarkers(m.points || [], true);
      return;
    }
    if (!ids.length) return;
    const r = await getJSON('/api/observations?ids=' + ids.map(encodeURIComponent).join(','));
    remember(r.items);
    const got = new Map(r.items.map((o) => [o.id, o]));
    const points = [];
    const gone = [];
    for (const id of ids) {
      const o = got.get(id);
      if (o && o.position) points.push([o.position.lat, o.position.lon, id]);
      else if (markers.has(id)) { gone.push(markers.get(id)); markers.delete(id); }
    }
    if (gone.length) cluster.removeLayers(gone);
    syncMarkers(points, false);
  }

  const unplacedItems = new Map(); // id → li
  async function refreshUnplaced() {
    const r = await getJSON(reloadURL('/api/observations?placed=0&', unplacedItems.size, UNPLACED_PAGE));
    noticeBlobs(r.items);
    merge($('unplaced'), unplacedItems, r.items, unplacedItem, !!unplacedNext);
    setUnplacedCount(r.total);
  }

  // ---------- observation page ----------

  let obsShown = null;
  async function showObs(id) {
    obsShown = id;
    const box = $('obs');
    box.replaceChildren(el('p', { class: 'muted' }, 'loading…'));
    window.scrollTo(0, 0);
    let r;
    try {
      r = await getJSON('/api/observations/' + encodeURIComponent(id));
    } catch (e) {
      if (obsShown === id) box.replaceChildren(el('p', { class: 'error' }, e.status === 404 ? 'No such observation: ' + id : e.message));
      return;
    }
    if (obsShown !== id || current !== 'obs') return;
    drawObs(r);
  }

  // refreshObs redraws the observation shown if it changed (a new version
  // synced in), keeping the scroll position.
  async function refreshObs() {
    const id = obsShown;
    const r = await getJSON('/api/observations/' + encodeURIComponent(id));
    const old = obsDrawn;
    if (current !== 'obs' || obsShown !== id || (old && old.id === id && old.updated === r.observation.updated && old.heads === r.observation.heads)) return;
    const y = window.scrollY;
    drawObs(r);
    window.scrollTo(0, y);
  }

  let obsDrawn = null; // the observation on the page
  function drawObs(r) {
    const box = $('obs');
    obsDrawn = r.observation;
    obsCache.set(r.observation.id, r.observation);
    if (obsMap) { obsMap.remove(); obsMap = null; }
    box.replaceChildren(renderObs(r.observation, r.history || []));
    const p = r.observation.position;
    if (p) {
      obsMap = newMap('obs-map');
      // without tiles, a wider view says where this is
      obsMap.setView([p.lat, p.lon], session && session.basemap ? fitZoom() : 4);
      L.marker([p.lat, p.lon]).addTo(obsMap);
      if (p.accuracy_m > 0) {
        obsMap.createPane('accuracy');
        L.circle([p.lat, p.lon], { pane: 'accuracy', radius: p.accuracy_m, weight: 1 }).addTo(obsMap);
      }
    }
  }
  let obsMap = null;

  function varState(v) {
    const st = stateOf(v);
    if (st === 'partial') return 'partial, ' + Math.floor(v.percent || 0) + ' %';
    return st;
  }

  function originalLink(att) {
    const v = att.original;
    if (!v) return el('p', { class: 'original muted' }, 'no original');
    const make = () => el('p', { class: 'original' },
      el('a', { href: blobURL(v.cid), target: '_blank', rel: 'noopener', class: 'original-link' },
        'open the original (' + fmtBytes(v.size) + (v.width ? ', ' + v.width + '×' + v.height : '') + ')'),
      ' · ', el('a', { href: blobURL(v.cid), download: att.name || '' }, 'download'));
    const st = stateOf(v);
    if (st === 'present') return make();
    const p = el('p', { class: 'original muted', 'data-cid': v.cid },
      st === 'partial' && v.percent > 0 ? 'original arriving, ' + Math.floor(v.percent) + ' %' : 'original not on this device');
    wait(v.cid, p, make);
    return p;
  }

  // fixityText: a present blob is verified against its CID when it is
  // stored; a later fixity check (fieldsync verify) says when and how.
  function fixityText(v) {
    if (stateOf(v) !== 'present') return '–';
    if (!v.fixity) return 'on arrival';
    return v.fixity.result + ', ' + fmtTime(v.fixity.checked_at);
  }

  function renderObs(o, history) {
    const atts = o.attachments || [];
    const title = o.tags && o.tags.length ? o.tags.join(', ') : 'Observation of ' + fmtTime(o.created);
    const out = el('article', { class: 'obs-page', 'data-id': o.id },
      el('p', { class: 'back' }, el('a', { href: '#/gallery' }, '← gallery'), ' ', el('a', { href: '#/map' }, 'map')),
      el('h1', {}, title),
      o.heads > 1 ? el('p', { class: 'fork' }, 'This observation has ' + o.heads + ' heads (a fork): the winning version is shown, the others are in the history.') : null,
      o.deleted ? el('p', { class: 'error' }, 'This observation is deleted.') : null);

    const media = el('div', { class: 'obs-media' });
    if (!atts.length) media.append(el('p', { class: 'muted' }, 'No attachments.'));
    for (const a of atts) {
      const fig = el('figure', { class: 'attachment' });
      if (a.preview) fig.append(varImage(a.preview, 'preview', 'preview', { absentText: 'preview not on this device yet', alt: a.name || '' }));
      else fig.append(el('div', { class: 'placeholder preview-placeholder', 'data-state': 'none' }, el('span', {}, 'no preview')));
      fig.append(el('figcaption', {}, a.name || a.kind || ''), originalLink(a));
      media.append(fig);
    }
    out.append(media);

    out.append(el('dl', { class: 'record' },
      el('dt', {}, 'time'), el('dd', {}, el('time', { datetime: o.created }, fmtTime(o.created))),
      o.updated && o.updated !== o.created ? [el('dt', {}, 'updated'), el('dd', {}, fmtTime(o.updated))] : null,
      el('dt', {}, 'position'), el('dd', { class: 'position' }, fmtPos(o.position),
        o.position ? el('div', { id: 'obs-map', 'aria-label': 'map of the position' }) : null),
      el('dt', {}, 'tags'), el('dd', { class: 'tags' }, o.tags && o.tags.length ? o.tags.join(', ') : '–'),
      el('dt', {}, 'notes'), el('dd', { class: 'notes' }, o.notes || '–'),
      el('dt', {}, 'author'), el('dd', { class: 'mono' }, o.author || ''),
      el('dt', {}, 'id'), el('dd', { class: 'mono' }, o.id)));

    out.append(el('h2', {}, 'History'));
    const rows = history.map((v) => {
      const marks = [];
      if (v.winner) marks.push('wins');
      else if (v.head) marks.push('head (fork)');
      if (v.counted === false) marks.push('refused');
      if (v.deleted) marks.push('deletes');
      const cls = [v.winner ? 'winner' : '', v.head ? 'head' : '', v.counted === false ? 'refused' : ''].filter(Boolean).join(' ');
      return el('tr', { class: cls || null },
        el('td', {}, String(v.seq)), el('td', {}, fmtTime(v.updated)),
        el('td', { class: 'mono', title: v.author }, shortID(v.author)),
        el('td', {}, (v.tags || []).join(', ')), el('td', {}, truncate(v.notes, 80)),
        el('td', {}, v.position ? fmtPos(v.position) : '–'),
        el('td', { class: 'marks' }, marks.join(', ')),
        el('td', { class: 'mono', title: v.record }, shortID(v.record)));
    });
    out.append(el('div', { class: 'scroll-x' }, el('table', { class: 'history' },
      el('thead', {}, el('tr', {}, ['seq', 'updated', 'author', 'tags', 'notes', 'position', '', 'version'].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows))));

    for (const a of atts) {
      out.append(el('h2', {}, 'Attachment ' + (a.name || '') + ' ', el('span', { class: 'muted' }, a.media_type || '')));
      const vrows = ['thumbnail', 'preview', 'original'].map((k) => {
        const v = a[k];
        if (!v) return el('tr', {}, el('th', {}, k), el('td', { colspan: 5, class: 'muted' }, 'none'));
        return el('tr', { 'data-variant': k },
          el('th', {}, k), el('td', { class: 'mono cid' }, v.cid), el('td', {}, fmtBytes(v.size)),
          el('td', {}, v.width ? v.width + '×' + v.height : '–'),
          el('td', { class: 'state state-' + stateOf(v) }, varState(v)),
          el('td', { class: 'fixity' }, fixityText(v)));
      });
      out.append(el('div', { class: 'scroll-x' }, el('table', { class: 'variants' },
        el('thead', {}, el('tr', {}, ['variant', 'CID', 'size', 'width×height', 'state', 'verified'].map((h) => el('th', {}, h)))),
        el('tbody', {}, vrows))));
    }
    return out;
  }

  // ---------- sync ----------

  let lastSync = null;
  let syncLoaded = false;
  function showSync() {
    if (!syncLoaded) {
      syncLoaded = true;
      getJSON('/api/sync').then(renderSync).catch((e) => { $('sync-status').textContent = 'Could not load: ' + e.message; });
    }
  }

  function syncStatus(s) {
    const running = s ? s.running : session && session.syncing;
    if (!running) return ['not-syncing', 'not syncing (started with fieldsync ui; use fieldsync serve --ui)'];
    if (s && s.complete) return ['complete', 'complete'];
    const connected = s && (s.peers || []).some((p) => p.state === 'connected');
    if (s && !connected) return ['waiting', 'waiting for peers'];
    return ['syncing', s && s.idle ? 'syncing (idle)' : 'syncing'];
  }

  function renderSyncBadge(s) {
    if (!session) return;
    const [state, text] = syncStatus(s);
    const b = $('sync-badge');
    b.dataset.state = state;
    b.textContent = state === 'not-syncing' ? 'not syncing' : text;
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
      refreshGallery().catch(() => {});
    }
    lastSync = s;
    renderSyncBadge(s);
    const [state, text] = syncStatus(s);
    const st = $('sync-status');
    st.dataset.state = state;
    st.textContent = text;
    $('sync-rate').textContent = fmtRate(s.rate);
    $('sync-eta').textContent = s.complete ? 'done' : fmtETA(s.eta);

    const rec = s.records || {};
    const rr = document.querySelector('#sync-classes tr[data-class="records"]');
    // records: how many are here, and how many came from peers since start;
    // there is no "wanted" count for them, so the bar is full once complete.
    const rp = rr.querySelector('progress');
    rr.querySelector('.files').textContent = fmtNum(rec.present) + ' here' +
      (typeof rec.applied === 'number' ? ', ' + fmtNum(rec.applied) + ' received' : '');
    if (!s.running) setProgress(rp, null, null);
    else if (s.complete) setProgress(rp, 1, 1);
    else { rp.removeAttribute('value'); rp.textContent = 'syncing'; }
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
      el('td', { class: 'mono', title: p.id }, shortID(p.id)),
      el('td', { title: p.reason || null }, p.state + (p.reason ? ' (' + p.reason + ')' : '')),
      el('td', {}, fmtRate(p.rate)), el('td', {}, fmtBytes(p.received)), el('td', {}, fmtBytes(p.sent)),
      el('td', {}, fmtNum(p.inFlight)))));
    $('peers-none').hidden = peers.length > 0;
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

  function setupAdd() {
    if (addReady) return;
    addReady = true;
    const form = $('add-form');
    const status = $('add-status');
    if (!session.device || !session.device.canWrite) {
      $('add-fieldset').disabled = true;
      status.className = 'error';
      status.textContent = (session.device && session.device.readOnly) ||
        'This device cannot add observations (its role is ' + ((session.device && session.device.role) || 'unknown') + ').';
      return;
    }
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
    form.addEventListener('reset', () => setTimeout(syncMarker, 0));

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      if (!fd.getAll('files').some((f) => f && f.size > 0)) {
        status.className = 'error';
        status.textContent = 'Choose one or more photos.';
        return;
      }
      if ((lat.value === '') !== (lon.value === '')) {
        status.className = 'error';
        status.textContent = 'Give both lat and lon, or neither.';
        return;
      }
      if (lat.value === '') { fd.delete('lat'); fd.delete('lon'); } // the photo's EXIF, if any
      // each file's own date, used for a photo without an EXIF time
      fd.set('mtimes', fd.getAll('files').filter((f) => f && f.name).map((f) => f.lastModified || 0).join(','));
      $('add-fieldset').disabled = true;
      status.className = 'muted';
      status.textContent = 'uploading…';
      try {
        const r = await upload(fd, (pct) => { status.textContent = 'uploading… ' + pct + ' %'; });
        const o = r.observation;
        obsCache.set(o.id, o);
        form.reset();
        status.className = 'ok';
        status.replaceChildren('Added: ', el('a', { href: '#/obs/' + encodeURIComponent(o.id), id: 'add-result' }, 'open the new observation'));
        observationsChanged();
      } catch (e) {
        status.className = 'error';
        status.textContent = (e.status ? 'Not added (' + e.status + '): ' : 'Not added: ') + e.message;
      } finally {
        $('add-fieldset').disabled = false;
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
        else reject(new HTTPError(x.status, (j && j.error) || x.status + ' ' + x.statusText));
      });
      x.addEventListener('error', () => reject(new Error('the connection failed; is fieldsync still running?')));
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
        getJSON('/api/sync').then(renderSync).catch(() => {});
      }
    });
    es.addEventListener('error', () => { $('conn').hidden = false; wasDown = true; });
    es.addEventListener('sync', (e) => { try { renderSync(JSON.parse(e.data)); } catch (err) { console.warn(err); } });
    es.addEventListener('observations', (e) => {
      try {
        const d = JSON.parse(e.data);
        if (d && Array.isArray(d.ids) && !d.all) d.ids.forEach((id) => changedIDs.add(id));
        else changedAll = true;
      } catch (err) { changedAll = true; }
      observationsChanged();
    });
    es.addEventListener('blob', (e) => {
      try { const d = JSON.parse(e.data); if (d && d.cid) blobArrived(d.cid); } catch (err) { console.warn(err); }
    });
  }

  route();
  connect();
})();
