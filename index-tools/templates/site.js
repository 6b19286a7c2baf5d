// The script every page of a knap site shares: Copy buttons beside the
// commands and, on the front page, the search box over the search index
// that `knap-index build` writes under search/ (see index-tools/src/build/search.rs).
(function () {
  "use strict";
  // The search index's chunks are scripts that hand their rows over here.
  var loaded = { w: {}, d: {} };
  window.knapSearch = {
    words: function (n, rows) {
      // Document numbers come as differences between neighbours.
      for (var i = 0; i < rows.length; i++) {
        for (var j = 1; j <= 2; j++) {
          var ids = rows[i][j];
          for (var k = 1; k < ids.length; k++) { ids[k] += ids[k - 1]; }
        }
      }
      loaded.w[n] = rows;
    },
    docs: function (n, rows) { loaded.d[n] = rows; }
  };

  var clipboard = navigator.clipboard && window.isSecureContext;
  var addCopy = function (cmd) {
    var code = cmd.querySelector("code");
    if (!clipboard || !code) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + code.textContent);
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(code.textContent).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      }, function () { button.textContent = "Copy failed"; });
    });
    cmd.appendChild(button);
  };
  Array.prototype.forEach.call(document.querySelectorAll(".cmd"), addCopy);

  var form = document.getElementById("search");
  var box = document.getElementById("q");
  var list = document.getElementById("packs");
  var count = document.getElementById("count");
  var none = document.getElementById("none");
  if (!form || !box || !list || !count) { return; }

  var dir = form.getAttribute("data-index");
  var firsts = (form.getAttribute("data-firsts") || "").split(" ").filter(Boolean);
  var total = parseInt(form.getAttribute("data-docs"), 10) || 0;
  var DOC_CHUNK = parseInt(form.getAttribute("data-doc-chunk"), 10) || 1;
  var LIMIT = 100; // results shown at most
  var initial = Array.prototype.slice.call(list.children);
  var onPage = {};
  initial.forEach(function (li) { onPage[li.getAttribute("data-doc")] = li; });
  var made = {};
  var initialCount = count.textContent;
  var noun = function (n) { return n === 1 ? " pack" : " packs"; };

  // Words as search.rs cuts them: runs of letters and digits, lower-cased.
  var WORD;
  try { WORD = new RegExp("[\\p{Alphabetic}\\p{N}]+", "gu"); } catch (e) { WORD = /[0-9A-Za-z\u00aa-\uffff]+/g; }
  var words = function (text) {
    var seen = {};
    return (text.match(WORD) || []).map(function (w) { return w.toLowerCase(); })
      .filter(function (w) { return seen[w] ? false : (seen[w] = true); });
  };

  // Loads search/<dir>/<kind><n>.js once; calls done() when every one of
  // `ns` is there, or fail() once if any cannot be loaded.
  var waiting = {};
  var loadAll = function (kind, ns, done, fail) {
    var left = ns.length;
    var failed = false;
    var one = function () { if (--left === 0 && !failed) { done(); } };
    var bad = function () { if (!failed) { failed = true; fail(); } };
    if (left === 0) { done(); return; }
    ns.forEach(function (n) {
      if (loaded[kind][n]) { one(); return; }
      var key = kind + n;
      if (waiting[key]) { waiting[key].push([one, bad]); return; }
      waiting[key] = [[one, bad]];
      var script = document.createElement("script");
      var settle = function () {
        var calls = waiting[key];
        delete waiting[key];
        calls.forEach(function (c) { (loaded[kind][n] ? c[0] : c[1])(); });
      };
      script.onload = settle;
      script.onerror = settle;
      script.src = dir + key + ".js";
      document.head.appendChild(script);
    });
  };

  // The word chunks that may hold words beginning with `t`: from the last
  // chunk starting at or before it to the last starting before t + U+FFFF.
  var chunksFor = function (t) {
    var a = 0, b = firsts.length - 1, start = 0;
    while (a <= b) {
      var m = (a + b) >> 1;
      if (firsts[m] <= t) { start = m; a = m + 1; } else { b = m - 1; }
    }
    var end = start, stop = t + "\uffff";
    while (end + 1 < firsts.length && firsts[end + 1] < stop) { end++; }
    var out = [];
    for (var i = start; i <= end; i++) { out.push(i); }
    return out;
  };

  // document -> weight for one query word: 3 when a word of its ref is the
  // query word, 2 when one begins with it, 1 when another of its words does.
  var hitsFor = function (t) {
    var hits = {};
    chunksFor(t).forEach(function (n) {
      var rows = loaded.w[n];
      var a = 0, b = rows.length;
      while (a < b) { var m = (a + b) >> 1; if (rows[m][0] < t) { a = m + 1; } else { b = m; } }
      for (var i = a; i < rows.length && rows[i][0].lastIndexOf(t, 0) === 0; i++) {
        var name = rows[i][0] === t ? 3 : 2;
        rows[i][1].forEach(function (id) { if ((hits[id] || 0) < name) { hits[id] = name; } });
        rows[i][2].forEach(function (id) { if (!hits[id]) { hits[id] = 1; } });
      }
    });
    return hits;
  };

  // Every pack matching all query words: [document, score], best first,
  // then in ref order.
  var rank = function (terms) {
    var sets = terms.map(hitsFor).map(function (h) { return [h, Object.keys(h).length]; });
    sets.sort(function (x, y) { return x[1] - y[1]; });
    var out = [];
    Object.keys(sets[0][0]).forEach(function (id) {
      var score = 0;
      for (var i = 0; i < sets.length; i++) {
        var w = sets[i][0][id];
        if (!w) { return; }
        score += w;
      }
      out.push([+id, score]);
    });
    out.sort(function (x, y) { return y[1] - x[1] || x[0] - y[0]; });
    return out;
  };

  var el = function (tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  };
  // A card for a pack the page does not show, from its document row
  // [ref, label, version, description, summary, keywords].
  var card = function (id, row) {
    var r = row[0];
    var li = el("li", { "class": "pack", id: "pack-" + r, "data-doc": String(id) });
    var article = el("article", { "aria-labelledby": "h-" + r });
    var h = el("h2", { id: "h-" + r });
    h.appendChild(el("a", { href: "p/" + r + ".html" }, r));
    h.appendChild(document.createTextNode(" "));
    h.appendChild(el("span", { "class": "label" }, row[1]));
    h.appendChild(document.createTextNode(" "));
    h.appendChild(el("span", { "class": "ver" }, row[2]));
    article.appendChild(h);
    article.appendChild(el("p", { "class": "desc" }, row[3]));
    var summary = el("p", { "class": "summary" });
    row[4].forEach(function (s, i) {
      if (i) { summary.appendChild(document.createTextNode(" · ")); }
      summary.appendChild(el("span", {}, s));
    });
    article.appendChild(summary);
    if (row[5].length) {
      var kw = el("ul", { "class": "kw", "aria-label": "Keywords" });
      row[5].forEach(function (k) { kw.appendChild(el("li", {}, k)); });
      article.appendChild(kw);
    }
    var cmd = el("div", { "class": "cmd" });
    cmd.appendChild(el("code", {}, "knap install " + r));
    addCopy(cmd);
    article.appendChild(cmd);
    li.appendChild(article);
    return li;
  };

  var settled = function (query) { list.setAttribute("data-query", query); };
  var unavailable = function (query) {
    count.textContent = "The search index could not be loaded; every pack is on the pages listed below.";
    settled(query);
  };

  // Shows `ids` (in order) and nothing else.
  var show = function (ids) {
    var keep = {};
    ids.forEach(function (id) { keep[id] = true; });
    initial.forEach(function (li) {
      var on = keep[li.getAttribute("data-doc")] === true;
      if (li.hidden === on) { li.hidden = !on; }
    });
    Object.keys(made).forEach(function (id) {
      if (!keep[id] && made[id].parentNode) { list.removeChild(made[id]); }
    });
    ids.forEach(function (id) {
      var li = onPage[id] || made[id];
      li.hidden = false;
      list.appendChild(li);
    });
  };

  var current = 0;
  var apply = function (query) {
    var seq = ++current;
    var terms = words(query);
    if (!terms.length) {
      show([]);
      initial.forEach(function (li) { li.hidden = false; list.appendChild(li); });
      count.textContent = initialCount;
      if (none) { none.hidden = true; }
      settled(query);
      return;
    }
    var need = {};
    terms.forEach(function (t) { chunksFor(t).forEach(function (n) { need[n] = true; }); });
    loadAll("w", Object.keys(need).map(Number), function () {
      if (seq !== current) { return; }
      var ranked = rank(terms);
      var ids = ranked.slice(0, LIMIT).map(function (r) { return r[0]; });
      var docs = {};
      ids.forEach(function (id) { if (!onPage[id] && !made[id]) { docs[Math.floor(id / DOC_CHUNK)] = true; } });
      loadAll("d", Object.keys(docs).map(Number), function () {
        if (seq !== current) { return; }
        ids.forEach(function (id) {
          if (!onPage[id] && !made[id]) { made[id] = card(id, loaded.d[Math.floor(id / DOC_CHUNK)][id % DOC_CHUNK]); }
        });
        show(ids);
        var n = ranked.length;
        count.textContent = n + " of " + total + noun(total) + " match" +
          (n > ids.length ? "; the first " + ids.length + " are shown" : "");
        if (none) { none.hidden = n !== 0; }
        settled(query);
      }, function () { if (seq === current) { unavailable(query); } });
    }, function () { if (seq === current) { unavailable(query); } });
  };

  var fromHash = function () {
    var m = /^#q=(.*)$/.exec(location.hash);
    if (!m) { return ""; }
    try { return decodeURIComponent(m[1].replace(/\+/g, " ")); } catch (e) { return ""; }
  };
  var toHash = function (query) {
    try {
      history.replaceState(null, "", query ? "#q=" + encodeURIComponent(query) : location.pathname + location.search);
    } catch (e) { /* file:// pages may refuse; the search still works */ }
  };
  form.hidden = false;
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  box.addEventListener("input", function () { apply(box.value); toHash(box.value); });
  window.addEventListener("hashchange", function () { box.value = fromHash(); apply(box.value); });
  var initialQuery = fromHash();
  if (initialQuery) { box.value = initialQuery; }
  apply(initialQuery);
}());
