from django.dispatch import Signal

# Sent inside the transaction that marks a campaign done. Keyword argument: campaign_id.
campaign_finished = Signal()
