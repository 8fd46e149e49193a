"use strict";
// The report's only script (allowed by hash in the page's CSP): filter boxes, tree buttons, and fragment
// links that land inside collapsed or filtered parts. It never loads anything.
(function () {
  function runFilter(input) {
    const target = document.getElementById(input.dataset.table);
    if (!target) return;
    // A table's body rows, or a list's items.
    const rows = target.tBodies ? (target.tBodies.length ? Array.from(target.tBodies[0].rows) : [])
      : Array.from(target.children);
    const q = input.value.trim().toLowerCase();
    let shown = 0;
    for (const row of rows) {
      const hit = q === "" || row.textContent.toLowerCase().includes(q);
      row.hidden = !hit;
      if (hit) shown++;
    }
    const count = document.getElementById(input.dataset.table + "-count");
    if (count) count.textContent = q === "" ? rows.length + " rows" : shown + " of " + rows.length + " rows";
  }
  for (const input of document.querySelectorAll("input.filter")) {
    input.addEventListener("input", function () { runFilter(input); });
    runFilter(input);
  }
  for (const button of document.querySelectorAll("button[data-tree]")) {
    button.addEventListener("click", function () {
      const open = button.dataset.action === "expand";
      const tree = document.getElementById(button.dataset.tree);
      if (tree) for (const d of tree.querySelectorAll("details")) d.open = open;
    });
  }
  function reveal() {
    let id;
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return; }
    const target = id ? document.getElementById(id) : null;
    if (!target) return;
    for (let node = target.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    if (target.hidden) {
      const holder = target.parentElement && target.parentElement.closest("table, ol, ul");
      const input = holder ? document.querySelector('input.filter[data-table="' + holder.id + '"]') : null;
      if (input) { input.value = ""; runFilter(input); }
    }
    target.scrollIntoView({ block: "start" });
  }
  window.addEventListener("hashchange", reveal);
  if (location.hash) reveal();
})();
