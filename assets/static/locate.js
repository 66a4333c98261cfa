// On the request form: a map to show where the problem is, filling the coordinates, with
// the mouse (a click) or the keyboard (arrows move the map, Enter places the marker at its
// centre). The chosen place is announced. The address field stays the main way; without
// tiles (or without JavaScript) the map and its help stay hidden and nothing changes.
(function () {
  "use strict";
  var el = document.getElementById("locate-map");
  var help = document.getElementById("locate-help");
  var status = document.getElementById("locate-status");
  var lat = document.getElementById("lat"), lon = document.getElementById("lon");
  if (!el || !window.guichetMap || !lat || !lon) { return; }
  el.hidden = false;
  help.hidden = false;
  var center = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)];
  var map = window.guichetMap(el, center, parseInt(el.dataset.zoom, 10), function () {
    help.hidden = true;
    status.textContent = "";
  });
  var marker = null;
  function place(latlng) {
    lat.value = latlng.lat.toFixed(6);
    lon.value = latlng.lng.toFixed(6);
    if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng, { keyboard: false, alt: el.dataset.marker }).addTo(map); }
    status.textContent = el.dataset.placed.replace("{lat}", lat.value).replace("{lon}", lon.value);
  }
  if (lat.value && lon.value) {
    var known = L.latLng(parseFloat(lat.value), parseFloat(lon.value));
    if (!isNaN(known.lat) && !isNaN(known.lng)) { place(known); map.setView(known, 17); }
  }
  map.on("click", function (e) { place(e.latlng); });
  map.getContainer().addEventListener("keydown", function (e) {
    if (e.target === map.getContainer() && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      place(map.getCenter());
    }
  });
})();
