"""The app's models, for Django: each domain keeps its own in its folder; this module only imports
them so Django registers them under the one app ("playground"), with their labels and tables as before.
"""

from playground.films.sequences import SequenceExport as SequenceExport
from playground.gallery.models import Collection as Collection
from playground.gallery.models import CollectionEntry as CollectionEntry
from playground.gallery.models import Star as Star
from playground.generations.models import Batch as Batch
from playground.generations.models import Generation as Generation
from playground.generations.models import Preset as Preset
from playground.generations.references import Reference as Reference
from playground.lib.models import Lock as Lock
from playground.lib.models import WorkerHeartbeat as WorkerHeartbeat
from playground.money.models import Allowance as Allowance
from playground.money.models import SpendTotal as SpendTotal
from playground.money.models import TeamBudget as TeamBudget
from playground.notify.notifications import NotifyPreference as NotifyPreference
from playground.notify.webhooks import Webhook as Webhook
from playground.notify.webhooks import WebhookDelivery as WebhookDelivery
from playground.pictures.models import StagedPicture as StagedPicture
from playground.review.links import ShareLink as ShareLink
from playground.review.links import ShareTry as ShareTry
from playground.review.models import Comment as Comment
from playground.review.models import CommentMarks as CommentMarks
from playground.review.models import NoticesSeen as NoticesSeen
from playground.review.models import ReviewStatus as ReviewStatus
from playground.team.models import AuditEvent as AuditEvent
from playground.team.models import Invitation as Invitation
from playground.team.models import Membership as Membership
from playground.team.models import TeamPolicy as TeamPolicy
from playground.worker.models import UpstreamPermit as UpstreamPermit
from playground.worker.models import UsageLogCall as UsageLogCall
