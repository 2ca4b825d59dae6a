// Plotly sizes a figure when the figure's own script runs, while the page is still being parsed and
// before the theme's side bars exist, so a figure can come out wider than its column and be clipped.
// Once the page is laid out, fit every figure to its column, and again whenever the column changes
// width (a side bar toggled); plotly's own "responsive" option follows only the window's size.
(function () {
  function fitFigures() {
    if (!window.Plotly) return;
    var resize = function (gd) {
      if (gd._fullLayout) {
        Promise.resolve(window.Plotly.Plots.resize(gd)).catch(function () {});
      }
    };
    var observer = "ResizeObserver" in window ? new ResizeObserver(function (entries) {
      entries.forEach(function (entry) {
        entry.target.querySelectorAll(".plotly-graph-div").forEach(resize);
      });
    }) : null;
    document.querySelectorAll(".plotly-graph-div").forEach(function (gd) {
      resize(gd);
      if (observer && gd.parentElement) observer.observe(gd.parentElement);
    });
  }
  if (document.readyState === "complete") fitFigures();
  else window.addEventListener("load", fitFigures);
})();

// Accessibility (axe-core, checked by the browser test): a table or output wider than its column
// scrolls, and a scrolling region must be reachable from the keyboard; the theme's site title sits
// outside every landmark, so it is named as the site's navigation home.
(function () {
  function label() {
    document.querySelectorAll("div, pre")
      .forEach(function (el) {
        var style = window.getComputedStyle(el);
        var scrolls = /(auto|scroll)/.test(style.overflowX + style.overflowY) &&
          (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1);
        if (scrolls && !el.hasAttribute("tabindex") && !el.querySelector("a, button, input, [tabindex]")) {
          el.setAttribute("tabindex", "0");
          if (!el.hasAttribute("aria-label")) el.setAttribute("aria-label", "scrollable output");
        }
      });
    document.querySelectorAll(".sidebar-primary-items__start .sidebar-primary-item").forEach(function (el, i) {
      if (!el.closest("nav, header, main, aside, footer, [role]")) {
        el.setAttribute("role", "navigation");
        el.setAttribute("aria-label", "Site title" + (i ? " " + (i + 1) : ""));
      }
    });
  }
  if (document.readyState === "complete") label();
  else window.addEventListener("load", label);
})();
