"""Telling people a video ended: "Tell me when it's ready" in the browser, and signed webhooks to other
systems (their deliveries are leased rows the worker sends), with their admin pages.
"""
