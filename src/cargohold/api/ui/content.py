"""Web UI page for the content of a repository: its images and tags (size, local or cached and through
which proxy, when fetched and last pulled), deleting a tag or an image, and purging cached content."""

from __future__ import annotations

from aiohttp import web

from cargohold.api.ui import forms
from cargohold.api.ui.common import render, repo_url, services
from cargohold.api.ui.session import Flash, see_other


async def images_page(request: web.Request) -> web.Response:
    found = services(request)
    repository = await found.repositories.get(request.match_info["repo"])
    images = await found.inventory.images(repository.name)
    context = {
        "repo": repository,
        "images": images,
        "total_size": sum(image.size for image in images),
        "total_tags": sum(len(image.tags) for image in images),
        "registry_host": request.host,
        "tab": "images",
        "nav": "repositories",
    }
    return render(request, "images.html", context)


async def delete_content(request: web.Request) -> web.Response:
    """Delete one tag (``tag`` given) or a whole image; image names hold slashes, so both are form fields."""
    repository = request.match_info["repo"]
    form = await request.post()
    image, tag = forms.text(form, "image"), forms.text(form, "tag")
    inventory = services(request).inventory
    if tag:
        await inventory.delete_tag(repository, image, tag)
        flash = Flash("success", f"Tag {image}:{tag} deleted.")
    else:
        await inventory.delete_image(repository, image)
        flash = Flash("success", f"Image {image} deleted.")
    return see_other(repo_url(repository, "images"), flash)


async def purge(request: web.Request) -> web.Response:
    """Drop cached (pulled-through) content, of every proxy or of one; local content stays."""
    repository = request.match_info["repo"]
    form = await request.post()
    proxy = forms.text(form, "proxy") or None
    result = await services(request).inventory.purge_cached(repository, proxy)
    scope = f"through {proxy}" if proxy else "of every proxy"
    text = (
        f"Purged cached content {scope}: {result.manifests} manifests, {result.tags} tags, "
        f"{result.blobs} blobs."
    )
    return see_other(repo_url(repository, "images"), Flash("success", text))
