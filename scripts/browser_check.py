"""Open an HTML page in headless Chromium, as a person would, and say what happened.

    python3 scripts/browser_check.py PAGE.html SCREENSHOT.png [--width 1280] [--scale 1.0]
        [--top 0] [--height PIXELS]  (the part of the page to screenshot; default all)

Speaks the Chrome DevTools Protocol over `--remote-debugging-pipe` (file
descriptors 3 and 4, NUL-terminated JSON), so it needs only the Python standard
library and a Chromium: `$CHROMIUM` when set, else `chromium` on the PATH (the
Debian package `.ci/run` installs). It loads the page, collects every console
error, uncaught exception, log entry of level error and network request, takes
a full-page PNG screenshot, and measures the text boxes inside the page's
`svg.chart` pictures as laid out with the fonts the browser really used. It
prints one JSON document on stdout:

    {"console_errors": [...], "requests": [URL, ...], "screenshot": {"width": W,
     "height": H, "colours": N, "ink_share": F}, "overlaps": [...], "title": T}

`requests` lists every URL the page asked for but the page's own; `ink_share`
is the share of pixels that are not the page's background colour. The caller
(the integration test) decides what fails.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
import struct

# Measured in the page: every pair of text boxes (and text box over a bar)
# that overlap, inside each svg.chart. Rects with class "bar" are the marks.
OVERLAPS_JS = r"""
(() => {
  const found = [];
  const svgs = document.querySelectorAll('svg.chart');
  svgs.forEach((svg, index) => {
    const texts = [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()]);
    const bars = [...svg.querySelectorAll('rect.bar')].map(r => r.getBoundingClientRect());
    const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
    const frame = svg.getBoundingClientRect();
    for (let i = 0; i < texts.length; i++) {
      const [text, box] = texts[i];
      if (box.left < frame.left - 0.5 || box.right > frame.right + 0.5 || box.top < frame.top - 0.5 || box.bottom > frame.bottom + 0.5) {
        found.push(`chart ${index}: "${text}" leaves the picture`);
      }
      for (let j = i + 1; j < texts.length; j++) {
        if (hit(box, texts[j][1])) found.push(`chart ${index}: "${text}" overlaps "${texts[j][0]}"`);
      }
      bars.forEach(bar => { if (hit(box, bar)) found.push(`chart ${index}: "${text}" overlaps a bar`); });
    }
  });
  return JSON.stringify({overlaps: found, charts: svgs.length});
})()
"""


class Browser:
    """A Chromium child process and the CDP pipe to it."""

    def __init__(self, executable, profile):
        to_chrome_read, to_chrome_write = os.pipe()
        from_chrome_read, from_chrome_write = os.pipe()

        def wire_fds():
            # Chromium reads commands on fd 3 and writes replies on fd 4; move
            # both ends out of the way first, in case either already is 3 or 4.
            reading, writing = os.dup(to_chrome_read) + 10, os.dup(from_chrome_write) + 10
            os.dup2(to_chrome_read, reading)
            os.dup2(from_chrome_write, writing)
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        args = [
            executable,
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--user-data-dir=" + profile,
            "about:blank",
        ]
        self.process = subprocess.Popen(
            args,
            pass_fds=(3, 4),
            preexec_fn=wire_fds,
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("BROWSER_DEBUG") else subprocess.DEVNULL,
            close_fds=True,
        )
        os.close(to_chrome_read)
        os.close(from_chrome_write)
        self.writer = os.fdopen(to_chrome_write, "wb", buffering=0)
        self.reader = os.fdopen(from_chrome_read, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def _read_message(self):
        while b"\0" not in self.buffer:
            chunk = self.reader.read(1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.writer.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return True
            self.events.append(self._read_message())
        return False

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def png_pixels(data):
    """Width, height and the rows of RGB(A) pixels of an 8-bit PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG {header}"
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[x] = (line[x] + predictor) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def ink(data):
    """How many colours a screenshot has and the share of non-background pixels."""
    width, height, channels, rows = png_pixels(data)
    counts = {}
    for row in rows[::2]:
        for x in range(0, width * channels, channels * 2):
            pixel = row[x : x + 3]
            counts[pixel] = counts.get(pixel, 0) + 1
    total = sum(counts.values())
    background = max(counts.values()) if counts else 0
    return {
        "width": width,
        "height": height,
        "colours": len(counts),
        "ink_share": round(1 - background / total, 4) if total else 0.0,
    }


def main():
    arguments = sys.argv[1:]
    options = {"--width": "1280", "--scale": "1.0", "--height": "0", "--top": "0"}
    paths = []
    while arguments:
        argument = arguments.pop(0)
        if argument in options:
            options[argument] = arguments.pop(0)
        else:
            paths.append(argument)
    page, screenshot = paths
    url = "file://" + os.path.abspath(page)
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        sys.exit("no chromium: install the Debian package `chromium` (.ci/run does) or set CHROMIUM")
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(executable, profile)
        try:
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                browser.call(domain + ".enable", session=session)
            width = int(options["--width"])
            browser.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            browser.events.clear()
            browser.call("Page.navigate", {"url": url}, session=session)
            loaded = browser.wait_for("Page.loadEventFired", 60)
            # Let anything the page does after loading happen before judging it.
            time.sleep(0.5)
            measured = json.loads(
                browser.call("Runtime.evaluate", {"expression": OVERLAPS_JS, "returnByValue": True}, session=session)[
                    "result"
                ]["value"]
            )
            title = browser.call(
                "Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session=session
            )["result"].get("value")
            metrics = browser.call("Page.getLayoutMetrics", session=session)
            size = metrics["cssContentSize"]
            top = int(options["--top"])
            height = int(options["--height"]) or size["height"] - top
            shot = browser.call(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": top, "width": width, "height": height, "scale": float(options["--scale"])},
                },
                session=session,
            )
            png = base64.b64decode(shot["data"])
            with open(screenshot, "wb") as file:
                file.write(png)
            errors, requests = [], []
            for event in browser.events:
                method, params = event.get("method"), event.get("params", {})
                if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                    errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
                elif method == "Runtime.exceptionThrown":
                    errors.append("exception: " + params["exceptionDetails"].get("text", ""))
                elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                    errors.append("log: " + params["entry"].get("text", ""))
                elif method == "Network.requestWillBeSent":
                    requested = params["request"]["url"]
                    if requested != url:
                        requests.append(requested)
                elif method == "Network.loadingFailed":
                    errors.append("network: " + params.get("errorText", ""))
            if not loaded:
                errors.append("the page did not finish loading in 60 s")
            print(
                json.dumps(
                    {
                        "console_errors": errors,
                        "requests": requests,
                        "screenshot": ink(png),
                        "overlaps": measured["overlaps"],
                        "charts": measured["charts"],
                        "title": title,
                    }
                )
            )
        finally:
            browser.close()


if __name__ == "__main__":
    main()
