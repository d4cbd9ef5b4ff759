/* The heatmap button under the chart: GET api/explain?filename=... (a sample) or POST api/explain
 * (an uploaded file) with format=png, shown on demand.  app.js announces each result with the
 * "modelhub:result" event (detail: {sample: name} or {file: File}, or null after an error).
 */
(function () {
  "use strict";

  var current = null;
  var ticket = 0;
  var imageUrl = null;

  function $(id) {
    return document.getElementById(id);
  }

  function setShown(shown) {
    $("explain-figure").hidden = !shown;
    $("explain-button").setAttribute("aria-pressed", shown ? "true" : "false");
    $("explain-button").textContent = shown ? "Hide the heatmap" : "Show what the model looks at";
  }

  function reset(input) {
    ticket++;
    current = input;
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = null;
    $("explain-image").removeAttribute("src");
    $("explain-status").textContent = "";
    setShown(false);
    $("explain-button").disabled = false;
    $("explain-button").hidden = !input;
  }

  function request(input) {
    if (input.sample) {
      return fetch("api/explain?format=png&filename=" + encodeURIComponent(input.sample));
    }
    var form = new FormData();
    form.append("file", input.file, input.file.name || "pasted-image");
    return fetch("api/explain?format=png", { method: "POST", body: form });
  }

  function readError(response) {
    return response.text().then(function (text) {
      try {
        return JSON.parse(text).error || response.statusText;
      } catch (e) {
        return response.statusText || "HTTP " + response.status;
      }
    });
  }

  function explain() {
    if (!current) return;
    if (imageUrl) {
      setShown($("explain-figure").hidden);
      return;
    }
    var mine = ++ticket;
    var button = $("explain-button");
    button.disabled = true;
    $("explain-status").textContent = "Hiding each part of the photo in turn…";
    request(current).then(function (response) {
      if (!response.ok) {
        return readError(response).then(function (message) { throw new Error(message); });
      }
      return response.blob();
    }).then(function (blob) {
      if (mine !== ticket) return;
      imageUrl = URL.createObjectURL(blob);
      $("explain-image").src = imageUrl;
      $("explain-image").alt = "Heatmap of the parts of the photo that matter most for the top class";
      var top = document.querySelector("#chart .bar-row.is-top");
      var name = top ? top.dataset.label : "the top class";
      $("explain-caption").textContent = "The 224×224 crop the model sees. The redder a square, the more hiding it " +
        "(filling it with the photo's mean colour) lowers the probability of “" + name + "”.";
      $("explain-status").textContent = "";
      setShown(true);
    }).catch(function (error) {
      if (mine !== ticket) return;
      $("explain-status").textContent = "Could not explain: " + error.message;
    }).then(function () {
      if (mine === ticket) button.disabled = false;
    });
  }

  function start() {
    $("explain-button").hidden = true;
    $("explain-button").addEventListener("click", explain);
    document.addEventListener("modelhub:result", function (event) { reset(event.detail); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
