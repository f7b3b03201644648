"""English and Traditional Chinese (zh-TW) for what researchers read.

TWCC's users read Chinese first. The language comes from the browser's
``Accept-Language`` header; anything that is not Chinese gets English.
"""

from __future__ import annotations

from collections.abc import Mapping

LOCALES = ("en", "zh-TW")

MESSAGES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "form.release": "PyTorch release",
        "form.release.help": "The NGC PyTorch container your server runs in.",
        "form.gpus": "GPUs",
        "form.summary": "You are starting",
        "form.image": "Your own image (optional)",
        "form.image.help": (
            "An image built on the release above, matching one of: {patterns}. "
            "Leave empty for the release's image."
        ),
        "form.deprecated": "deprecated",
        "form.unverified": "some versions unverified",
        "form.simulated": "This hub runs on a simulated Kubernetes cluster: no real GPUs.",
        "form.nojs": "Availability shown for the preselected release; Start checks again.",
        "size.cores": "{cpu} cores",
        "size.memory": "{memory} memory",
        "size.shm": "{shm} /dev/shm",
        "image.ready": "ready on {held} of {fitting} fitting nodes",
        "image.cold": "the first start downloads ~{size} GB (≈ {time})",
        "image.cold_unknown": "the first start downloads the image",
        "image.seconds": "{seconds} s",
        "image.minutes": "{minutes} min",
        "avail.ok": "available",
        "avail.unknown": "availability unknown",
        "avail.none_free": "none free now",
        "avail.driver": "no node has a driver for this release",
        "avail.arch": "no node has a GPU this release supports",
        "avail.quota": "over your GPU quota",
        "avail.too_large": "no node is large enough for this size",
        "form.join": "Join the queue",
        "form.start": "Start",
        "queue.form": "No {gpus}-GPU slot is free: {people}",
        "queue.progress": "Waiting for a {gpus}-GPU slot: number {position} in line",
        "queue.nobody": "you would be first in line",
        "queue.person": "1 person is waiting ahead of you",
        "queue.people": "{n} people are waiting ahead of you",
        "queue.about": ", about {minutes} min",
        "queue.timeout": (
            "No {gpus}-GPU slot came free within {minutes} min, so the wait ended. "
            "Please try again later, or pick fewer GPUs."
        ),
        "queue.lost": (
            "The hub restarted while you waited in line for {gpus} GPUs (since {time} UTC), "
            "so your place was lost. Please start again to rejoin the queue."
        ),
        "home.running": "Running",
        "spawn.heading": "Server Options",
    },
    "zh-TW": {
        "form.release": "PyTorch 版本",
        "form.release.help": "伺服器所使用的 NGC PyTorch 容器映像檔。",
        "form.gpus": "GPU 數量",
        "form.summary": "即將啟動",
        "form.image": "自訂映像檔（選填）",
        "form.image.help": (
            "以上方版本為基礎建置的映像檔，須符合：{patterns}。留空則使用該版本的映像檔。"
        ),
        "form.deprecated": "已淘汰",
        "form.unverified": "部分版本資訊未經驗證",
        "form.simulated": "此 JupyterHub 運行於模擬的 Kubernetes 叢集：沒有真實的 GPU。",
        "form.nojs": "顯示的是預選版本的可用狀態；按下啟動時會再次檢查。",
        "size.cores": "{cpu} 核心",
        "size.memory": "{memory} 記憶體",
        "size.shm": "{shm} /dev/shm",
        "image.ready": "已在 {fitting} 個合適節點中的 {held} 個就緒",
        "image.cold": "首次啟動需下載約 {size} GB（≈ {time}）",
        "image.cold_unknown": "首次啟動需下載映像檔",
        "image.seconds": "{seconds} 秒",
        "image.minutes": "{minutes} 分鐘",
        "avail.ok": "可使用",
        "avail.unknown": "無法得知是否可用",
        "avail.none_free": "目前沒有空閒",
        "avail.driver": "沒有節點具備此版本所需的驅動程式",
        "avail.arch": "沒有節點具備此版本支援的 GPU",
        "avail.quota": "超過您的 GPU 配額",
        "avail.too_large": "沒有節點大到足以容納此規格",
        "form.join": "加入排隊",
        "form.start": "啟動",
        "queue.form": "目前沒有空閒的 {gpus}-GPU 位置：{people}",
        "queue.progress": "正在等待 {gpus}-GPU 位置：排在第 {position} 位",
        "queue.nobody": "您將排在第一位",
        "queue.person": "您前面有 1 人在等待",
        "queue.people": "您前面有 {n} 人在等待",
        "queue.about": "，約 {minutes} 分鐘",
        "queue.timeout": (
            "{minutes} 分鐘內沒有空出 {gpus}-GPU 位置，因此已結束等待。"
            "請稍後再試，或選擇較少的 GPU。"
        ),
        "queue.lost": (
            "您自 {time} UTC 起排隊等待 {gpus} 個 GPU 時，Hub 重新啟動，"
            "您的排隊位置已失效。請重新啟動以再次加入排隊。"
        ),
        "home.running": "執行中",
        "spawn.heading": "伺服器選項",
    },
}


def negotiate(accept_language: str | None) -> str:
    """The locale for an ``Accept-Language`` header: ``zh-TW`` for any Chinese, else ``en``.

    Tags are taken in order of their ``q`` weights; the first that is English or
    Chinese wins.
    """
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-TW"
        if tag.startswith("en"):
            return "en"
    return "en"


def translate(locale: str, key: str, **params: object) -> str:
    """The message ``key`` in ``locale`` (English if the locale lacks it)."""
    table = MESSAGES.get(locale, MESSAGES["en"])
    return table.get(key, MESSAGES["en"][key]).format(**params)
