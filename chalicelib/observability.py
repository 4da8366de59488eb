"""Logger, metrics and tracer, created once and registered as Chalice middleware.

The tracer (X-Ray) is only built when POWERTOOLS_TRACE_DISABLED is not "true": its import
costs cold-start time that local runs and tests need not pay.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "wxmember"))
# urllib3 logs every URL at DEBUG, and WeChat's token and jscode2session URLs carry the
# AppSecret in the query string: keep it quiet whatever the root level is.
logging.getLogger("urllib3").setLevel(logging.WARNING)

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "wxmember"))


def http_middleware(event: Any, get_response: Any) -> Any:
    logger.append_keys(path=event.path, method=event.method)
    try:
        response = get_response(event)
        logger.info("request", extra={"status": response.status_code})
        if response.status_code >= 500:
            metrics.add_metric(name="ServerErrors", unit="Count", value=1)
        return response
    finally:
        logger.remove_keys(["path", "method"])
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            metrics.flush_metrics()
