// Address search on the request form (IGN Géoplateforme format): the citizen picks one of
// the addresses found, which fills the address and the coordinates. The address typed by
// hand is always accepted as it is.
(function () {
  "use strict";
  var box = document.getElementById("geocoder");
  var address = document.getElementById("address");
  var lat = document.getElementById("lat"), lon = document.getElementById("lon");
  if (!box || !address || !window.fetch) { return; }
  box.hidden = false;
  var results = document.getElementById("geocoder-results");
  function say(text) {
    results.textContent = "";
    var p = document.createElement("p");
    p.textContent = text;
    results.appendChild(p);
  }
  document.getElementById("geocoder-search").addEventListener("click", function () {
    var q = address.value.trim();
    if (q.length < 3) { address.focus(); return; }
    fetch(box.dataset.url + "/search?limit=5&q=" + encodeURIComponent(q))
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var features = (data && data.features) || [];
        if (features.length === 0) { say(box.dataset.none); return; }
        results.textContent = "";
        var list = document.createElement("ul");
        features.forEach(function (f) {
          var label = f.properties && f.properties.label;
          var coords = f.geometry && f.geometry.coordinates;
          if (!label || !coords) { return; }
          var item = document.createElement("li");
          var button = document.createElement("button");
          button.type = "button";
          button.className = "link";
          button.textContent = label;
          button.addEventListener("click", function () {
            address.value = label;
            if (lat && lon) { lat.value = Number(coords[1]).toFixed(6); lon.value = Number(coords[0]).toFixed(6); }
            say(label);
            address.focus();
          });
          item.appendChild(button);
          list.appendChild(item);
        });
        results.appendChild(list);
      })
      .catch(function () { say(box.dataset.failed); });
  });
})();
