"""The channel pages of the platform half (health, data report, test send).

C2 fills `channel_urls`; the lifecycle's ChannelAdmin.get_urls includes what it returns, and the
channel page links to `admin:channels_channel_health`, `admin:channels_channel_report` and
`admin:channels_channel_test_send` whenever those names resolve.
"""


def channel_urls(model_admin):
    return []
