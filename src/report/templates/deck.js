// Keys for presenting: arrows, PageUp/PageDown and space move a slide, Home and End go to the
// ends, f toggles full screen. The URL's #fragment follows the slide shown, so a reload stays.
(function () {
  var slides = Array.prototype.slice.call(document.querySelectorAll("section.slide"));
  function current() {
    var best = 0, distance = Infinity;
    slides.forEach(function (slide, i) {
      var d = Math.abs(slide.getBoundingClientRect().top);
      if (d < distance) { distance = d; best = i; }
    });
    return best;
  }
  function show(i) {
    var slide = slides[Math.max(0, Math.min(slides.length - 1, i))];
    slide.scrollIntoView({ block: "start" });
    history.replaceState(null, "", "#" + slide.id);
  }
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    switch (e.key) {
      case "ArrowRight": case "ArrowDown": case "PageDown": case " ": show(current() + 1); break;
      case "ArrowLeft": case "ArrowUp": case "PageUp": show(current() - 1); break;
      case "Home": show(0); break;
      case "End": show(slides.length - 1); break;
      case "f": case "F":
        if (document.fullscreenElement) document.exitFullscreen();
        else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen();
        break;
      default: return;
    }
    e.preventDefault();
  });
})();
