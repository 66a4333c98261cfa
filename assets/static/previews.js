// Shows the photos chosen on the request form, by name, with a small preview, before they
// are sent. Without JavaScript the browser lists the file names itself.
(function () {
  "use strict";
  var input = document.getElementById("photos");
  var list = document.getElementById("photos-preview");
  if (!input || !list || !window.URL || !URL.createObjectURL) { return; }
  input.addEventListener("change", function () {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    Array.prototype.forEach.call(input.files, function (file) {
      var item = document.createElement("li");
      if (/^image\/(jpeg|png|gif|webp)$/.test(file.type)) {
        var img = document.createElement("img");
        img.src = URL.createObjectURL(file);
        img.alt = "";
        img.onload = function () { URL.revokeObjectURL(img.src); };
        item.appendChild(img);
      }
      item.appendChild(document.createTextNode(file.name + " (" + Math.ceil(file.size / 1024) + " Ko)"));
      list.appendChild(item);
    });
    list.hidden = input.files.length === 0;
  });
})();
