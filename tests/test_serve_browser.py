"""The studio page in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Skips, saying why, where Selenium, chromium or chromedriver is missing (.ci/run installs them).
Set STYLEGAN_FAST_STUDIO_SCREENSHOT=docs/studio.png to write the README's screenshot.
"""
import base64
import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.directions import Directions, load_directions, save_directions, unit_rows
from stylegan_fast.serve import create_app
from tests.test_serve import RealServer, decode, synthesized

webdriver = pytest.importorskip("selenium.webdriver", reason="Selenium is not installed (pip install selenium)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER) and os.environ.get("STYLEGAN_FAST_REQUIRE_BROWSER") == "1":
    raise RuntimeError("STYLEGAN_FAST_REQUIRE_BROWSER=1 (as .ci/run sets) but chromium/chromedriver are not on PATH: "
                       "apt-get install chromium chromium-driver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no headless browser here: apt-get install chromium chromium-driver (.ci/run does, as root)")

TIMEOUT = 30
DEMO_DIRECTIONS = sf.models.DEMO_MODEL_FILE.with_name("demo_faces_64_directions.npz")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """(driver, server url, G, download folder): the built-in model's studio open in headless Chromium."""
    from selenium.webdriver.chrome.service import Service

    G = sf.default_model()
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    directions = [DEMO_DIRECTIONS]
    if not DEMO_DIRECTIONS.is_file():  # this installation has no built-in directions yet: two random ones
        directions = [tmp_path_factory.mktemp("dirs") / "random.npz"]
        vectors = unit_rows(torch.randn(2, G.w_dim, generator=torch.Generator().manual_seed(0)))
        save_directions(directions[0], Directions(vectors, ["random 0", "random 1"]))
    with RealServer(create_app(G, directions=directions, max_batch=8, max_wait_ms=2)) as server:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.set_page_load_timeout(TIMEOUT)
            driver.set_script_timeout(TIMEOUT)
            driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
            driver.get(server.url + "/")
            wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1", "page ready")
            wait_for(driver, lambda d: version(d, "img-child") >= 1 and version(d, "img-a") >= 1
                     and version(d, "img-b") >= 1, "first pictures")
            yield driver, server.url, G, downloads, directions[0]
        finally:
            driver.quit()


def wait_for(driver, condition, what):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(condition, message=f"waiting for {what}")


def version(driver, img_id) -> int:
    return int(driver.execute_script(f"return document.getElementById('{img_id}').dataset.version || 0"))


def settled(driver, img_id, after: int):
    """Wait until the picture was redrawn after version ``after`` and no newer request is pending."""
    wait_for(driver, lambda d: version(d, img_id) > after and not d.execute_script(
        f"const p = pictures[{json_key(img_id)}]; return p.busy || p.next !== null;"), f"{img_id} redrawn")


def json_key(img_id):
    return {"img-child": "'child'", "img-a": "'a'", "img-b": "'b'", "img-strip": "'strip'"}[img_id]


def shown_image(driver, img_id) -> np.ndarray:
    """The bytes the page shows in <img id=...> (its blob), decoded."""
    data = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(document.getElementById(arguments[0]).src).then(r => r.arrayBuffer()).then(buf => {
          let s = ""; const bytes = new Uint8Array(buf);
          for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
          done(btoa(s));
        }).catch(e => done("error: " + e));""", img_id)
    assert not data.startswith("error"), data
    return decode(base64.b64decode(data))


def expected_child(G, seed_a, seed_b, t_rows):
    with torch.inference_mode():
        a, b = (G.mapping(sf.z_from_seeds([s], G.z_dim)) for s in (seed_a, seed_b))
    t = torch.tensor(t_rows, dtype=torch.float32)[None, :, None]
    return synthesized(G, a.lerp(b, t))[0]


def group_t(G, values):
    t = [0.0] * G.num_ws
    for group, value in values.items():
        for row in G.layer_groups[group]:
            t[row] = value
    return t


def test_moving_a_control_redraws_the_child(studio):
    from selenium.webdriver.common.keys import Keys

    driver, _, G, _, _ = studio
    before = shown_image(driver, "img-child")
    defaults = {"coarse": 0.0, "medium": 0.0, "fine": 1.0}  # the page's start
    np.testing.assert_array_equal(before, expected_child(G, 13, 10, group_t(G, defaults)))
    v = version(driver, "img-child")
    t0 = time.perf_counter()
    driver.find_element("id", "group-coarse").send_keys(Keys.END)  # the coarse styles all from parent B
    settled(driver, "img-child", v)
    elapsed = time.perf_counter() - t0
    after = shown_image(driver, "img-child")
    changed = np.abs(after.astype(int) - before.astype(int)).mean()
    assert changed > 2, f"moving the coarse slider changed the child by only {changed:.2f} levels on average"
    np.testing.assert_array_equal(after, expected_child(G, 13, 10, group_t(G, {**defaults, "coarse": 1.0})))
    print(f"child redrawn {elapsed * 1000:.0f} ms after the key press (mean change {changed:.1f} levels)")


def test_a_direction_slider_moves_the_child(studio):
    from selenium.webdriver.common.keys import Keys

    driver, _, G, _, directions_file = studio
    before = shown_image(driver, "img-child")
    v = version(driver, "img-child")
    slider = driver.find_element("id", "direction-0")
    slider.send_keys(Keys.END)
    settled(driver, "img-child", v)
    strength = float(driver.execute_script("return Number(document.getElementById('direction-0').value)"))
    assert strength > 0
    d = load_directions(directions_file)
    with torch.inference_mode():
        a, b = (G.mapping(sf.z_from_seeds([s], G.z_dim)) for s in (13, 10))
    rows = d.layer_rows(0, G.num_ws)
    child_without_edit = a.lerp(b, torch.tensor(group_t(G, {"coarse": 1.0, "fine": 1.0}))[None, :, None])
    child = child_without_edit.clone()
    child[:, rows] += strength * d.vectors[0]
    after = shown_image(driver, "img-child")
    np.testing.assert_array_equal(after, synthesized(G, child)[0])
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1
    v = version(driver, "img-child")
    driver.find_element("id", "reset-directions").click()
    settled(driver, "img-child", v)
    np.testing.assert_array_equal(shown_image(driver, "img-child"), synthesized(G, child_without_edit)[0])


def test_a_new_seed_redraws_parent_and_child(studio):
    driver, _, G, _, _ = studio
    va, vc = version(driver, "img-a"), version(driver, "img-child")
    seed = driver.find_element("id", "seed-a")
    seed.clear()
    seed.send_keys("11")
    settled(driver, "img-a", va)
    settled(driver, "img-child", vc)
    with torch.inference_mode():
        want = sf.to_uint8(G(sf.z_from_seeds([11], G.z_dim))).numpy()[0]
    np.testing.assert_array_equal(shown_image(driver, "img-a"), want)


def test_save_png_and_latent(studio):
    driver, _, G, downloads, _ = studio
    child = shown_image(driver, "img-child")
    driver.find_element("id", "save-png").click()
    png = downloads / "child.png"
    wait_for(driver, lambda d: png.is_file() and png.stat().st_size > 0, "child.png downloaded")
    np.testing.assert_array_equal(decode(png.read_bytes()), child)
    driver.find_element("id", "save-latent").click()
    npz = downloads / "child.npz"
    wait_for(driver, lambda d: npz.is_file() and npz.stat().st_size > 0, "child.npz downloaded")
    time.sleep(0.2)  # the download is renamed into place when complete; let it finish writing
    ws = sf.load_ws(npz, G.num_ws, G.w_dim)  # NVlabs' projected_w layout: key w, [1, num_ws, w_dim]
    with np.load(npz) as f:
        assert f["w"].shape == (1, G.num_ws, G.w_dim)
    np.testing.assert_array_equal(synthesized(G, ws[None])[0], child)


def test_family_strip_and_screenshot(studio):
    driver, _, G, _, _ = studio
    driver.find_element("id", "strip").click()
    wait_for(driver, lambda d: version(d, "img-strip") >= 1, "the family strip")
    strip = shown_image(driver, "img-strip")
    assert strip.shape == (G.img_resolution, 8 * G.img_resolution, 3)
    tile = G.img_resolution
    # the first child inherits everything from A, the last everything from B: the parents themselves
    np.testing.assert_array_equal(strip[:, :tile], shown_image(driver, "img-a"))
    np.testing.assert_array_equal(strip[:, -tile:], shown_image(driver, "img-b"))
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]  # the whole page, strip included
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
        "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG")
    target = os.environ.get("STYLEGAN_FAST_STUDIO_SCREENSHOT")
    if target:
        from PIL import Image

        sf.save_image(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), Path(target))
