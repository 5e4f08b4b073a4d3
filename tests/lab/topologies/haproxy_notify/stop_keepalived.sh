#!/bin/bash
systemctl stop keepalived
