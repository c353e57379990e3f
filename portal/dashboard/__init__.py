"""The home page (`/`): what needs the signed-in user's attention in the organization they work in, per role, each
item linking to the page where it is acted on (issue 17 item 1)."""
