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
