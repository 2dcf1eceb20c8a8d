/* MathJax 2 calls from the ipywidgets embed manager, answered by MathJax 3.
 *
 * @jupyter-widgets/html-manager's embed-amd.js typesets widget labels with MathJax 2's API,
 * MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]). The book loads MathJax 3, which has
 * no Hub, so each such call threw a TypeError in the console. This file is loaded before
 * MathJax and the widget manager. It gives whatever object is `window.MathJax` (first this
 * configuration, then MathJax 3 itself, which replaces it while loading) a small `Hub` whose
 * Queue typesets the element with MathJax 3's typesetPromise, waiting for MathJax to be
 * ready when it is not yet.
 */
(function () {
  "use strict";
  var pending = [];

  function mathjaxReady() {
    var mj = window.MathJax;
    return mj && typeof mj.typesetPromise === "function";   // defined once MathJax 3 has started up
  }

  function typeset(elements) {
    if (mathjaxReady()) {
      window.MathJax.typesetPromise(elements).catch(function (err) {
        console.warn("MathJax could not typeset a widget label:", err);
      });
    } else {
      pending.push(elements);
    }
  }

  function flush() {
    var queued = pending;
    pending = [];
    queued.forEach(typeset);
  }

  var hub = {
    Queue: function () {
      for (var i = 0; i < arguments.length; i++) {
        var job = arguments[i];
        if (Array.isArray(job) && job[0] === "Typeset") {
          typeset(job[2] ? [job[2]] : undefined);
        } else if (typeof job === "function") {
          job();
        }
      }
    },
    Typeset: function (element) {
      typeset(element ? [element] : undefined);
    },
    Config: function () {}
  };

  function attach(obj) {
    if (obj && typeof obj === "object" && !obj.Hub) {
      obj.Hub = hub;
    }
    return obj;
  }

  var current = window.MathJax;
  if (current && current.version) {
    // MathJax 3 (loaded asynchronously) ran first: give it the Hub, flush once it is ready.
    attach(current);
    if (current.startup && current.startup.promise) {
      current.startup.promise.then(flush);
    }
  } else {
    // MathJax 3 comes later: configure it so that it flushes the queue when it is ready.
    current = attach(current || {});
    current.startup = current.startup || {};
    var userReady = current.startup.ready;
    current.startup.ready = function () {
      if (userReady) {
        userReady();
      } else {
        window.MathJax.startup.defaultReady();
      }
      window.MathJax.startup.promise.then(flush);
    };
  }

  // MathJax 3 replaces window.MathJax while it loads; the setter gives the new object the Hub too.
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = attach(value); }
  });
})();
