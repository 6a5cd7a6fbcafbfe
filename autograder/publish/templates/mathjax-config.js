// MathJax settings of the review sheet (review.html), loaded before tex-chtml.js.
// Only the math that the page's Markdown found between dollars is typeset (its elements
// have the class "math"; the body is ignored), never text the student typed elsewhere;
// ui/safe drops javascript: links and other unsafe \href, \class or \style values.
window.MathJax = {
  loader: {load: ["ui/safe"]},
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]]},
  options: {ignoreHtmlClass: "mathjax_ignore", processHtmlClass: "math"},
};
