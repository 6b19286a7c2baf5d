(function () {
  "use strict";
  var form = document.getElementById("search");
  var box = document.getElementById("q");
  var list = document.getElementById("packs");
  var count = document.getElementById("count");
  var none = document.getElementById("none");
  if (form && box && list && count) {
    var items = Array.prototype.slice.call(list.children);
    var hay = items.map(function (li) { return li.getAttribute("data-search") || ""; });
    var total = items.length;
    var noun = function (n) { return n === 1 ? " pack" : " packs"; };
    var apply = function (query) {
      var terms = query.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      for (var i = 0; i < items.length; i++) {
        var ok = true;
        for (var j = 0; ok && j < terms.length; j++) { ok = hay[i].indexOf(terms[j]) !== -1; }
        if (items[i].hidden === ok) { items[i].hidden = !ok; }
        if (ok) { shown++; }
      }
      count.textContent = terms.length ? shown + " of " + total + noun(total) + " match" : total + noun(total);
      if (none) { none.hidden = shown !== 0; }
    };
    var fromHash = function () {
      var m = /^#q=(.*)$/.exec(location.hash);
      if (!m) { return ""; }
      try { return decodeURIComponent(m[1].replace(/\+/g, " ")); } catch (e) { return ""; }
    };
    var toHash = function (query) {
      try {
        history.replaceState(null, "", query ? "#q=" + encodeURIComponent(query) : location.pathname + location.search);
      } catch (e) { /* file:// pages may refuse; the filter still works */ }
    };
    form.hidden = false;
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    box.addEventListener("input", function () { apply(box.value); toHash(box.value); });
    window.addEventListener("hashchange", function () { box.value = fromHash(); apply(box.value); });
    var initial = fromHash();
    if (initial) { box.value = initial; apply(initial); }
  }
  if (navigator.clipboard && window.isSecureContext) {
    Array.prototype.forEach.call(document.querySelectorAll(".cmd"), function (cmd) {
      var code = cmd.querySelector("code");
      if (!code) { return; }
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
    });
  }
}());
