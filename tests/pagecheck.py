"""Headless Chromium checks of a generated page (the run report, the history's trend page): a
screenshot, the DOM, and which images loaded."""
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chromium(*args, tmp):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def console_errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln]


# Test-only instrumentation, added to a copy of the page (the report itself runs no script): after
# the load event, record which images did not load and report each on the console.
IMG_CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  broken.forEach(s => console.error("broken image: " + s));
  const d = document.createElement("div");
  d.id = "img-check"; d.dataset.loaded = imgs.length - broken.length; d.dataset.broken = broken.join(" ");
  document.body.appendChild(d);
});
</script>"""


def image_check(report_dir: Path, tmp: Path):
    """(images loaded, broken image names, console lines) of the page in Chromium."""
    page = report_dir / "_img_check.html"
    page.write_text((report_dir / "index.html").read_text().replace("</body>", IMG_CHECK + "</body>"))
    p = chromium("--dump-dom", page.resolve().as_uri(), tmp=tmp)
    m = re.search(r'<div id="img-check" data-loaded="(\d+)" data-broken="([^"]*)">', p.stdout)
    assert m, p.stdout[-500:] + p.stderr[-2000:]
    return int(m.group(1)), m.group(2).split(), console_errors(p.stderr)
