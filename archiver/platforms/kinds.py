"""The one rule for what kind of post a social post is, from what it points at: a repost shows
another post as the account's own, a quote comments on one, a reply answers one."""

from __future__ import annotations

from archiver.models import PostDraft


def post_kind(post: PostDraft, *, reposted: bool = False) -> str:
    """`repost`, `quote`, `reply` or `post`, in that order of precedence. `reposted` is for a repost
    whose original cannot be named (an X archive's `RT @…` text carries no id)."""
    if reposted or post.repost_of:
        return "repost"
    if post.quote_of:
        return "quote"
    if post.reply_to:
        return "reply"
    return "post"
