// What the maps share: a Leaflet map on `el` with the tile server of its `data-tiles`, zoom
// buttons labelled in the page's language, and a way out when the tiles cannot be loaded:
// at the first tile that fails before any has loaded (or after 8 s without one), the map
// is removed and `giveWay` is called, so that the page's other means (the table, the
// address field) stand alone.
(function () {
  "use strict";
  if (!window.L) { return; }
  window.guichetMap = function (el, center, zoom, giveWay) {
    var map = L.map(el, { zoomControl: false }).setView(center, zoom);
    L.control.zoom({ zoomInTitle: el.dataset.zoomIn, zoomOutTitle: el.dataset.zoomOut }).addTo(map);
    var loaded = false, gone = false;
    function leave() {
      if (loaded || gone) { return; }
      gone = true;
      map.remove();
      el.hidden = true;
      giveWay();
    }
    var layer = L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 19 });
    layer.on("tileload", function () { loaded = true; });
    layer.on("tileerror", leave);
    layer.addTo(map);
    window.setTimeout(leave, 8000);
    return map;
  };
})();
