/* Where the ipywidgets embed manager's bundle lives, for require.js.
 *
 * embed-amd.js defines its modules by name ("@jupyter-widgets/html-manager/dist/...") and
 * computes webpack's public path, where its Font Awesome files are fetched from, from the
 * URL require.js gives that name: by default the page's own folder, where the fonts are not.
 * Loaded between require.js and embed-amd.js, this maps the name to the folder this file
 * is served from (_static), where the build copies the fonts beside embed-amd.js.
 */
(function () {
  "use strict";
  var here = document.currentScript && document.currentScript.src;
  if (!here || !window.require || !window.require.config) {
    return;
  }
  var folder = here.split("?")[0].replace(/\/[^\/]*$/, "");
  window.require.config({paths: {"@jupyter-widgets/html-manager/dist": folder}});
})();
