"""The web console in a real browser (Debian's Chromium, driven by selenium through its
chromedriver): the functions list with health, a test invocation from the form with its
response and log tail, the graphs drawn from CloudWatch's metric API, the live logs and the
platform page. With keys (a server started with --credentials), the console asks for them
and signs every request. Screenshots go to the directory given.

Usage: console.py ENDPOINT SCREENSHOT_DIR [ACCESS_KEY SECRET]"""

import json
import os
import re
import sys
import time

import boto3
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from common import ROLE, check, package

endpoint, shots = sys.argv[1], sys.argv[2]
keys = sys.argv[3:5] if len(sys.argv) >= 5 else ("test", "test")
signed = len(sys.argv) >= 5
os.makedirs(shots, exist_ok=True)
prefix = "signed-" if signed else ""

lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id=keys[0], aws_secret_access_key=keys[1])
HELLO = "import json\n\ndef handler(event, context):\n    print('hello from the console test')\n    return {'echo': event}\n"
FAILING = "def handler(event, context):\n    raise RuntimeError('always fails')\n"
lam.create_function(FunctionName="console-hello", Runtime="python3.11", Handler="app.handler",
                    Role=ROLE, Code={"ZipFile": package({"app.py": HELLO})})
lam.create_function(FunctionName="console-failing", Runtime="python3.11", Handler="app.handler",
                    Role=ROLE, Code={"ZipFile": package({"app.py": FAILING})})
for _ in range(3):
    lam.invoke(FunctionName="console-hello", Payload=b"{}")
lam.invoke(FunctionName="console-failing", Payload=b"{}")

options = Options()
options.binary_location = "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"]:
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 30)


def find(css):
    return wait.until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def text_of(css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def shot(name):
    path = os.path.join(shots, prefix + name)
    driver.save_screenshot(path)
    print("screenshot:", path)


try:
    driver.get(endpoint + "/console/")
    if signed:
        find("input[name=accessKeyId]").send_keys(keys[0])
        driver.find_element(By.CSS_SELECTOR, "input[name=secretAccessKey]").send_keys(keys[1])
        shot("sign-in.png")
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        check(True, "the console asked for keys and took them")

    # The list, with health at a glance.
    find("tr[data-function=console-hello]")
    hello_row = text_of("tr[data-function=console-hello]")
    failing_row = text_of("tr[data-function=console-failing]")
    check("healthy" in hello_row and "python3.11" in hello_row, f"console-hello is listed healthy: {hello_row!r}")
    check("errors" in failing_row, f"console-failing shows its errors: {failing_row!r}")
    shot("functions.png")

    # A test invocation from the form.
    driver.find_element(By.CSS_SELECTOR, "tr[data-function=console-hello] a").click()
    area = find("textarea[data-testid=event]")
    area.clear()
    area.send_keys(json.dumps({"from": "console-test-event"}))
    driver.find_element(By.CSS_SELECTOR, "button[data-testid=invoke]").click()
    response = find("pre[data-testid=invoke-response]")
    wait.until(lambda d: "console-test-event" in response.text)
    log = text_of("pre[data-testid=invoke-log]")
    check('"echo"' in response.text, f"the response is shown: {response.text!r}")
    check("hello from the console test" in log and "REPORT RequestId" in log, f"the log tail is shown: {log!r}")
    check("Succeeded" in text_of("[data-testid=invoke-status]"), "the invocation is marked succeeded")
    config = text_of("[data-testid=configuration]")
    check("app.handler" in config and "128 MB" in config, "the configuration is shown")
    shot("invoke.png")

    # The graphs, from CloudWatch's metric API, with the invocations made.
    def invocations_in_range(d):
        m = re.search(r"(\d+) invocations", d.find_element(By.CSS_SELECTOR, "[data-testid=graph-totals]").text)
        return m and int(m.group(1)) >= 4
    WebDriverWait(driver, 40).until(invocations_in_range)
    charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart")
    check(len(charts) == 4, f"four graphs: {len(charts)}")
    # uPlot draws on a canvas: the invocations graph has coloured pixels of its series.
    painted = driver.execute_script("""
        const c = document.querySelector('figure[data-chart=invocations] canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let blue = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 0 && d[i + 2] > 150 && d[i] < 120) blue++;
        }
        return blue;""")
    check(painted > 20, f"the invocations series is drawn ({painted} pixels)")
    shot("graphs.png")

    # Live logs.
    WebDriverWait(driver, 20).until(
        lambda d: "hello from the console test" in d.find_element(By.CSS_SELECTOR, "[data-testid=live-logs] pre").text)
    check(True, "the live logs show the function's output")

    # The platform page.
    driver.get(endpoint + "/console/#/platform")
    find("[data-testid=environments]")
    envs = text_of("[data-testid=environments]")
    check("console-hello" in envs, f"environments by version: {envs!r}")
    tiles = text_of("[data-testid=event-queue]")
    check("accepted since start" in tiles, "the event queue is shown")
    shot("platform.png")
finally:
    driver.quit()

print("all checks passed")
