// On the request form: a map to click where the problem is, filling the coordinates. The
// address field stays the main way; without tiles (or without JavaScript) nothing changes.
(function () {
  "use strict";
  var el = document.getElementById("locate-map");
  var lat = document.getElementById("lat"), lon = document.getElementById("lon");
  if (!el || !window.L || !lat || !lon) { return; }
  el.hidden = false;
  var start = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)];
  var map = L.map(el).setView(start, parseInt(el.dataset.zoom, 10));
  var loaded = false;
  var layer = L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 19 });
  layer.on("tileload", function () { loaded = true; });
  layer.addTo(map);
  window.setTimeout(function () {
    if (!loaded) { map.remove(); el.hidden = true; }
  }, 8000);
  var marker = null;
  function place(latlng) {
    lat.value = latlng.lat.toFixed(6);
    lon.value = latlng.lng.toFixed(6);
    if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng, { keyboard: true, alt: el.dataset.marker }).addTo(map); }
  }
  if (lat.value && lon.value) { place(L.latLng(parseFloat(lat.value), parseFloat(lon.value))); map.setView(marker.getLatLng(), 17); }
  map.on("click", function (e) { place(e.latlng); });
})();
