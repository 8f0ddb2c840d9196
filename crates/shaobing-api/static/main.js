// Starts the views of the page (or the terminal alone).
"use strict";

// ---- start ---------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  setUpSignIn();
  document.addEventListener("click", () => { if (audio && audio.state === "suspended") audio.resume(); });
  window.addEventListener("hashchange", () => {
    if ((location.hash === "#terminal") !== document.body.classList.contains("terminal")) location.reload();
  });
  if (setUpTerminal()) return;
  pollSuppressions();
  setInterval(pollSuppressions, 10000);
  document.getElementById("load-more").addEventListener("click", () => nextCursor && loadIssues(nextCursor));
  setUpFilters();
  setUpCameraView();
  setUpTrend();
  setUpMap();
  pollCameras();
  setInterval(pollCameras, 2000);
  pollSensors();
  setInterval(pollSensors, 10000);
  pollEvidence();
  setInterval(pollEvidence, 60000);
  pollPrecision();
  setInterval(pollPrecision, 30000);
  pollOnTime();
  setInterval(pollOnTime, 15000);
  pollMasks();
  setInterval(pollMasks, 30000);
  loadIssues(null);
  streamEvents(true);
});

