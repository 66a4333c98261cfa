// Puts the requests of the table on a map, clustered. The table stays: it is the same
// information for those who cannot use the map. When the tiles cannot be loaded, the map
// gives way to the table alone.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.guichetMap) { return; }
  var center = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)];
  var map = window.guichetMap(el, center, parseInt(el.dataset.zoom, 10), function () {});
  var group = L.markerClusterGroup ? L.markerClusterGroup() : L.featureGroup();
  var rows = document.querySelectorAll(el.dataset.points + " tbody tr");
  Array.prototype.forEach.call(rows, function (row) {
    var lat = parseFloat(row.dataset.lat), lon = parseFloat(row.dataset.lon);
    if (isNaN(lat) || isNaN(lon)) { return; }
    var link = document.createElement(row.dataset.href ? "a" : "span");
    if (row.dataset.href) { link.href = row.dataset.href; }
    link.textContent = row.dataset.label;
    L.marker([lat, lon], { title: row.dataset.label, alt: row.dataset.label, keyboard: true }).bindPopup(link).addTo(group);
  });
  group.addTo(map);
  if (rows.length > 0 && group.getBounds && group.getBounds().isValid()) {
    map.fitBounds(group.getBounds(), { maxZoom: 17, padding: [20, 20] });
  }
})();
