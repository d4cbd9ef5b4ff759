/* The built-in ModelHub page: model card, sample gallery, upload and top-K chart.
 *
 * Plain JavaScript, no dependencies.  All API URLs are relative ("api/..."), so the page
 * also works behind a path prefix.  Text from the API is only ever set with textContent,
 * never parsed as HTML.
 */
(function () {
  "use strict";

  var DEFAULT_TOP = 5;
  var state = { top: DEFAULT_TOP, request: 0, previewUrl: null, input: null };

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function isSafeLink(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url);
  }

  function link(url, text) {
    var a = el("a", null, text || url);
    a.href = url;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    return a;
  }

  /* -- API --------------------------------------------------------------------------- */

  function readError(response, body) {
    if (body && typeof body.error === "string" && body.error) return body.error;
    var status = response.status + (response.statusText ? " " + response.statusText : "");
    return "The server answered " + status + " without an explanation.";
  }

  function getJson(url, options) {
    return fetch(url, options).then(
      function (response) {
        return response.text().then(function (text) {
          var body = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch (e) {
            body = null;
          }
          if (!response.ok || body === null || (body && typeof body.error === "string")) {
            var error = new Error(readError(response, body));
            error.status = response.status;
            throw error;
          }
          return body;
        });
      },
      function () {
        throw new Error("Could not reach the server. Check your connection and try again.");
      }
    );
  }

  /* -- model card -------------------------------------------------------------------- */

  function fact(list, name, value, asLink) {
    if (value === undefined || value === null || value === "") return;
    var row = el("div");
    row.appendChild(el("dt", null, name));
    var dd = el("dd");
    if (asLink && isSafeLink(value)) dd.appendChild(link(value));
    else dd.textContent = String(value);
    row.appendChild(dd);
    list.appendChild(row);
  }

  function renderConfig(config) {
    var meta = config.meta || {};
    var model = config.model || {};
    var publication = config.publication || {};
    var hub = config.modelhub || {};

    var top = parseInt(hub.top, 10);
    state.top = top > 0 ? top : DEFAULT_TOP;
    $("result-k").textContent = String(state.top);

    var name = meta.name || "Model";
    $("model-name").textContent = name;
    document.title = name + " · ModelHub";
    if (meta.task) $("model-task").textContent = meta.task;
    $("model-task-extended").textContent = meta.task_extended || "";
    $("model-description").textContent = model.description || "";

    var facts = $("facts");
    facts.textContent = "";
    fact(facts, "Task", meta.task_extended || meta.task);
    fact(facts, "Application area", meta.application_area);
    fact(facts, "Data type", meta.data_type);
    fact(facts, "Training data", meta.data_source, true);
    fact(facts, "Architecture", model.architecture);
    fact(facts, "Learning type", model.learning_type);
    fact(facts, "Format", model.format);
    fact(facts, "Provenance", model.provenance, true);

    renderModelFile(model.file);
    renderPublication(publication);
  }

  function renderModelFile(file) {
    if (!file) {
      $("model-file-name").textContent = "none: this package needs no model file";
      return;
    }
    var variant = file.variant ? String(file.variant) : "unknown";
    var label = variant === "int8" ? "int8 (quantised)" : variant === "float" ? "float32" : variant;
    $("model-file-name").textContent = file.file || "–";
    $("model-file-variant").textContent = label;
    $("model-file-sha256").textContent = file.sha256 || "–";
    var badge = $("variant-badge");
    badge.textContent = variant === "unknown" ? "variant unknown" : label;
    show(badge, true);

    var verified = $("model-file-verified");
    verified.textContent = "";
    if (file.verified) {
      verified.appendChild(el("span", "status status-ok", "verified"));
      verified.appendChild(document.createTextNode(" against the published checksum"));
      if (isSafeLink(file.source_url)) {
        verified.appendChild(document.createTextNode(" · "));
        verified.appendChild(link(file.source_url, "source"));
      }
    } else {
      verified.appendChild(el("span", "status status-warn", "unverified"));
      verified.appendChild(document.createTextNode(" matches no published checksum"));
      $("unverified-file").textContent = file.file || "in use";
      show($("unverified-banner"), true);
      show($("unverified-badge"), true);
    }

    var reproduced = $("model-file-reproduced");
    reproduced.textContent = "";
    if (file.reproduced === true) {
      reproduced.appendChild(el("span", "status status-ok", "reproduced"));
      reproduced.appendChild(document.createTextNode(" the reference outputs on the sample photos"));
    } else if (file.reproduced === false) {
      reproduced.appendChild(el("span", "status status-warn", "differs"));
      reproduced.appendChild(document.createTextNode(" from the reference outputs on the sample photos"));
    } else {
      reproduced.textContent = "not checked (no reference outputs for this file)";
    }
  }

  function renderPublication(pub) {
    $("pub-title").textContent = pub.title || "";
    var byline = [pub.authors, pub.source, pub.year].filter(function (x) {
      return x !== undefined && x !== null && x !== "";
    });
    $("pub-authors").textContent = byline.join(" · ");
    var links = $("pub-links");
    links.textContent = "";
    [["Paper", pub.url], ["Google Scholar", pub.google_scholar]].forEach(function (pair) {
      if (!isSafeLink(pair[1])) return;
      if (links.childNodes.length) links.appendChild(document.createTextNode(" · "));
      links.appendChild(link(pair[1], pair[0]));
    });
    $("pub-abstract").textContent = pub.abstract || "";
    if (pub.bibtex) $("bibtex").textContent = pub.bibtex;
    else show($("bibtex-box"), false);
  }

  function copyBibtex() {
    var text = $("bibtex").textContent;
    var status = $("copy-status");
    function done(ok) {
      status.textContent = ok ? "Copied." : "Select the text and copy it with Ctrl+C.";
    }
    function fallback() {
      var range = document.createRange();
      range.selectNodeContents($("bibtex"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      done(ok);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  }

  function renderLegal(legal) {
    var box = $("licences");
    box.textContent = "";
    [
      ["model_license", "Model"],
      ["sample_data_license", "Sample data"],
      ["modelhub_license", "Engine (ModelHub)"],
      ["modelhub_acknowledgements", "Engine acknowledgements"],
    ].forEach(function (pair) {
      var text = legal[pair[0]];
      if (!text) return;
      var details = el("details", "licence");
      details.appendChild(el("summary", null, pair[1]));
      var pre = el("pre", null, text);
      pre.tabIndex = 0;
      details.appendChild(pre);
      box.appendChild(details);
    });
  }

  /* -- samples ----------------------------------------------------------------------- */

  function fileNameOf(url) {
    var path = String(url).split(/[?#]/)[0];
    return decodeURIComponent(path.substring(path.lastIndexOf("/") + 1));
  }

  function prettyName(name) {
    return name.replace(/\.[^.]+$/, "").replace(/[_-]+/g, " ");
  }

  function renderSamples(urls) {
    if (!Array.isArray(urls)) throw new Error("the server did not return a list of samples");
    var gallery = $("gallery");
    gallery.textContent = "";
    urls.map(fileNameOf).filter(function (name) {
      return /\.(png|jpe?g)$/i.test(name);
    }).forEach(function (name) {
      var item = el("li");
      var button = el("button", "sample");
      button.type = "button";
      button.dataset.filename = name;
      button.setAttribute("aria-pressed", "false");
      button.setAttribute("aria-label", "Classify the sample photo " + prettyName(name));
      var img = el("img");
      img.src = "api/samples/" + encodeURIComponent(name);
      img.alt = "";
      img.loading = "lazy";
      img.decoding = "async";
      button.appendChild(img);
      button.appendChild(el("span", "sample-name", prettyName(name)));
      button.addEventListener("click", function () {
        runSample(name, img.src);
      });
      item.appendChild(button);
      gallery.appendChild(item);
    });
  }

  /* -- prediction ------------------------------------------------------------------- */

  function setPreview(src, caption) {
    var img = $("preview-image");
    if (state.previewUrl && state.previewUrl !== src) {
      URL.revokeObjectURL(state.previewUrl);
      state.previewUrl = null;
    }
    if (src) {
      img.src = src;
      img.alt = caption;
      show(img, true);
      show($("preview-placeholder"), false);
    } else {
      img.removeAttribute("src");
      img.alt = "";
      show(img, false);
      var placeholder = $("preview-placeholder");
      placeholder.textContent = "No preview: this file is not an image the browser can show";
      show(placeholder, true);
    }
    $("preview").classList.remove("is-empty");
    $("preview-caption").textContent = caption;
    // On one-column layouts the result is below the inputs: bring it into view.
    if (window.matchMedia && window.matchMedia("(max-width: 820px)").matches) {
      var reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      $("preview").scrollIntoView({ behavior: reduce ? "auto" : "smooth", block: "start" });
    }
  }

  function setBusy(busy) {
    show($("busy"), busy);
    $("try").setAttribute("aria-busy", busy ? "true" : "false");
  }

  function showError(message) {
    var box = $("error");
    box.textContent = "";
    var text = String(message || "Unknown error.");
    text = text.charAt(0).toUpperCase() + text.slice(1);
    if (!/[.!?]$/.test(text)) text += ".";
    box.appendChild(el("strong", "error-title", "Could not classify this file"));
    box.appendChild(el("span", "error-text", text));
    show(box, true);
    show($("result"), false);
  }

  function formatPercent(p) {
    var pct = p * 100;
    if (pct >= 10) return pct.toFixed(1) + "%";
    if (pct >= 0.1) return pct.toFixed(2) + "%";
    return "<0.1%";
  }

  function renderResult(body, roundTrip) {
    var outputs = body.output || [];
    var first = outputs[0] || {};
    var prediction = Array.isArray(first.prediction) ? first.prediction.slice(0, state.top) : [];
    var chart = $("chart");
    chart.textContent = "";
    prediction.forEach(function (entry, index) {
      var probability = Math.max(0, Math.min(1, Number(entry.probability) || 0));
      var row = el("li", "bar-row" + (index === 0 ? " is-top" : ""));
      row.dataset.label = String(entry.label);
      row.dataset.probability = String(probability);
      var label = el("span", "bar-label", entry.label);
      label.title = String(entry.label);
      var track = el("span", "bar-track");
      track.setAttribute("aria-hidden", "true");
      var fill = el("span", "bar-fill");
      fill.style.width = (probability * 100).toFixed(2) + "%";
      track.appendChild(fill);
      row.appendChild(label);
      row.appendChild(track);
      row.appendChild(el("span", "bar-value", formatPercent(probability)));
      chart.appendChild(row);
    });
    $("result-k").textContent = String(prediction.length || state.top);
    var timing = [];
    if (typeof body.processing_time === "number") {
      timing.push("Processed in " + Math.round(body.processing_time * 1000) + " ms on the server");
    }
    if (roundTrip) timing.push(Math.round(roundTrip) + " ms round trip");
    $("processing-time").textContent = timing.join(" · ");
    show($("error"), false);
    show($("result"), prediction.length > 0);
    if (!prediction.length) showError("The server returned no classes.");
  }

  function predict(url, options) {
    var ticket = ++state.request;
    var started = performance.now();
    setBusy(true);
    show($("error"), false);
    return getJson(url, options).then(
      function (body) {
        if (ticket !== state.request) return;
        renderResult(body, performance.now() - started);
        // explain.js offers the heatmap of this input (sample name or file) under the chart.
        document.dispatchEvent(new CustomEvent("modelhub:result", { detail: state.input }));
      },
      function (error) {
        if (ticket !== state.request) return;
        showError(error.message);
        document.dispatchEvent(new CustomEvent("modelhub:result", { detail: null }));
      }
    ).then(function () {
      if (ticket === state.request) setBusy(false);
    });
  }

  function markSample(name) {
    var buttons = document.querySelectorAll("#gallery .sample");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].setAttribute("aria-pressed", buttons[i].dataset.filename === name ? "true" : "false");
    }
  }

  function runSample(name, src) {
    markSample(name);
    state.input = { sample: name };
    setPreview(src, "Sample: " + name);
    return predict("api/predict_sample?filename=" + encodeURIComponent(name) + "&top=" + state.top);
  }

  function runFile(file) {
    if (!file) return;
    markSample(null);
    state.input = { file: file };
    var isImage = /^image\//.test(file.type);
    var url = isImage ? URL.createObjectURL(file) : null;
    setPreview(url, (file.name || "Pasted image") + " · " + formatBytes(file.size));
    if (url) state.previewUrl = url;
    var form = new FormData();
    form.append("file", file, file.name || "pasted-image");
    return predict("api/predict?top=" + state.top, { method: "POST", body: form });
  }

  function formatBytes(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " kB";
    return n + " bytes";
  }

  /* -- input: picker, drag-and-drop, paste ----------------------------------------- */

  function wireInput() {
    var zone = $("dropzone");
    var input = $("file-input");
    zone.addEventListener("click", function (event) {
      if (event.target !== input) input.click();
    });
    zone.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        input.click();
      }
    });
    input.addEventListener("change", function () {
      if (input.files && input.files[0]) runFile(input.files[0]);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      zone.addEventListener(type, function () {
        zone.classList.remove("is-dragging");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("is-dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) runFile(files[0]);
    });
    // A file dropped next to the zone must not make the browser navigate away.
    window.addEventListener("dragover", function (event) { event.preventDefault(); });
    window.addEventListener("drop", function (event) { event.preventDefault(); });
    document.addEventListener("paste", function (event) {
      var data = event.clipboardData;
      if (!data) return;
      var file = null;
      if (data.files && data.files.length) file = data.files[0];
      else if (data.items) {
        for (var i = 0; i < data.items.length; i++) {
          if (data.items[i].kind === "file") {
            file = data.items[i].getAsFile();
            break;
          }
        }
      }
      if (file) {
        event.preventDefault();
        runFile(file);
      }
    });
    $("copy-bibtex").addEventListener("click", copyBibtex);
    $("thumbnail").addEventListener("error", function () { show($("thumbnail"), false); });
  }

  /* -- start ------------------------------------------------------------------------ */

  function loadError(what, error) {
    var box = $("load-error-text");
    var line = el("p", null, "Could not load " + what + ": " + error.message);
    box.appendChild(line);
    show($("load-error"), true);
  }

  function start() {
    wireInput();
    document.documentElement.classList.add("js");
    Promise.all([
      getJson("api/get_config").then(renderConfig).catch(function (e) { loadError("the model description", e); }),
      getJson("api/get_samples").then(renderSamples).catch(function (e) { loadError("the sample photos", e); }),
      getJson("api/get_legal").then(renderLegal).catch(function (e) { loadError("the licences", e); }),
    ]).then(function () {
      document.body.dataset.ready = "true";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
